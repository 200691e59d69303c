/*
 * Folding text for search (tw_text_fold in include/twin/schema.h).
 *
 * Names of the same place arrive spelt many ways: "Beit Sahour",
 * "beit-sahour", "Bayt Sāḥūr", and in Arabic with or without vowel marks and
 * with any of the alef forms.  Folding maps all of them to one key so a
 * search matches them, without a Unicode database: the tables below cover
 * the Latin letters used in transliterations of Arabic and in European
 * names (Latin-1 Supplement, Latin Extended-A, the Extended-B letters of
 * DIN 31635 and Romanian, Latin Extended Additional) and the Arabic block.
 * Everything else passes through unchanged.
 *
 * No character grows when folded (the longest, "ß" -> "ss", stays at two
 * bytes), so the output is never longer than the input.
 */
#include <stdint.h>
#include <string.h>

#include "twin/schema.h"

#define SPACE  ((const char *)1)   /* marker: a word separator */
#define DROP   ((const char *)2)   /* marker: removed without trace */

/* U+00C0..U+00FF; NULL entries are separators (x and division signs). */
static const char *const latin1[64] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", NULL, "o", "u", "u", "u", "u", "y", "th", "y",
};

/* U+0100..U+017F, one base letter each; '2' marks the ligatures below. */
static const char latin_ext_a[] =
    "aaaaaa" "cccccccc" "dddd" "eeeeeeeeee" "gggggggg" "hhhh" "iiiiiiiiii" "22" "jj" "kkk"
    "llllllllll" "nnnnnnnnn" "oooooo" "22" "rrrrrr" "ssssssss" "tttttt" "uuuuuuuuuuuu"
    "ww" "yyy" "zzzzzz" "s";

/* U+1E00..U+1EFF, one base letter each; '2' marks U+1E9E (capital sharp s). */
static const char latin_ext_add[] =
    "aa" "bbbbbb" "cc" "dddddddddd" "eeeeeeeeee" "ff" "gg" "hhhhhhhhhh" "iiii" "kkkkkk"
    "llllllll" "mmmmmm" "nnnnnnnn" "oooooooo" "pppp" "rrrrrrrr" "ssssssssss" "tttttttt"
    "uuuuuuuuuu" "vvvv" "wwwwwwwwww" "xxxx" "yy" "zzzzzz"
    "htwyas" "ss" "2" "d"
    "aaaaaaaaaaaaaaaaaaaaaaaa" "eeeeeeeeeeeeeeee" "iiii" "oooooooooooooooooooooooo"
    "uuuuuuuuuuuuuu" "yyyyyyyy" "llvvyy";

_Static_assert(sizeof latin_ext_a == 0x80 + 1, "one letter per code point");
_Static_assert(sizeof latin_ext_add == 0x100 + 1, "one letter per code point");

/* The few Latin Extended-B letters in common transliterations. */
static const struct { uint16_t cp; char base; } latin_ext_b[] = {
    { 0x01CD, 'a' }, { 0x01CE, 'a' }, { 0x01CF, 'i' }, { 0x01D0, 'i' }, { 0x01D1, 'o' },
    { 0x01D2, 'o' }, { 0x01D3, 'u' }, { 0x01D4, 'u' }, { 0x01E6, 'g' }, { 0x01E7, 'g' },
    { 0x01F0, 'j' }, { 0x0218, 's' }, { 0x0219, 's' }, { 0x021A, 't' }, { 0x021B, 't' },
};

/* Decodes one UTF-8 character; returns its length, or 0 for an invalid
 * byte (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { len = 2; v = c & 0x1F; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; v = c & 0x0F; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; v = c & 0x07; min = 0x10000; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

static size_t put_cp(char *out, uint32_t cp)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Returns an ASCII replacement (possibly written into one[]), SPACE, DROP,
 * or NULL to keep *cp (which an Arabic variant may have changed). */
static const char *fold_cp(uint32_t *cp, char one[2])
{
    uint32_t c = *cp;
    one[1] = 0;
    if (c < 0x80) {
        if (c >= 'A' && c <= 'Z') { one[0] = (char)(c - 'A' + 'a'); return one; }
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return NULL;
        return SPACE;
    }
    if (c < 0xC0) return SPACE;               /* C1 controls, NBSP, Latin-1 signs */
    if (c <= 0xFF) return latin1[c - 0xC0] ? latin1[c - 0xC0] : SPACE;
    if (c <= 0x17F) {
        if (c == 0x0132 || c == 0x0133) return "ij";
        if (c == 0x0152 || c == 0x0153) return "oe";
        one[0] = latin_ext_a[c - 0x100];
        return one;
    }
    if (c < 0x250) {
        for (size_t i = 0; i < sizeof latin_ext_b / sizeof latin_ext_b[0]; i++)
            if (latin_ext_b[i].cp == c) { one[0] = latin_ext_b[i].base; return one; }
        return NULL;
    }
    if (c >= 0x02B0 && c <= 0x02FF) return SPACE;   /* modifier letters: ʾ ʿ ʼ and the like */
    if (c >= 0x0300 && c <= 0x036F) return DROP;    /* combining accents of decomposed text */
    if (c >= 0x0600 && c <= 0x06FF) {
        if ((c >= 0x064B && c <= 0x065F) || c == 0x0670 || c == 0x0640 ||
            (c >= 0x0610 && c <= 0x061A) || (c >= 0x06D6 && c <= 0x06ED) || c == 0x061C)
            return DROP;                          /* harakat, tatweel, Quranic marks */
        if (c == 0x0622 || c == 0x0623 || c == 0x0625 || c == 0x0671) { *cp = 0x0627; return NULL; }
        if (c == 0x0629) { *cp = 0x0647; return NULL; }
        if (c == 0x0649) { *cp = 0x064A; return NULL; }
        if (c >= 0x0660 && c <= 0x0669) { one[0] = (char)('0' + c - 0x0660); return one; }
        if (c >= 0x06F0 && c <= 0x06F9) { one[0] = (char)('0' + c - 0x06F0); return one; }
        if (c == 0x060C || c == 0x061B || c == 0x061F || (c >= 0x066A && c <= 0x066D) || c == 0x06D4)
            return SPACE;                         /* Arabic punctuation */
        return NULL;
    }
    if (c >= 0x1E00 && c <= 0x1EFF) {
        if (c == 0x1E9E) return "ss";
        one[0] = latin_ext_add[c - 0x1E00];
        return one;
    }
    if ((c >= 0x200B && c <= 0x200F) || (c >= 0x202A && c <= 0x202E) ||
        (c >= 0x2060 && c <= 0x206F) || c == 0xFEFF)
        return DROP;                              /* zero-width and direction marks */
    if ((c >= 0x2000 && c <= 0x206F) || c == 0x3000) return SPACE;  /* spaces, dashes, quotes */
    return NULL;
}

size_t tw_text_fold(char *out, const char *in, size_t n)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0, i = 0;
    bool pending_space = false;
    while (i < n) {
        uint32_t cp;
        size_t l = utf8_next(s + i, n - i, &cp);
        if (l == 0) { i++; continue; }
        i += l;
        char one[2];
        const char *r = fold_cp(&cp, one);
        if (r == DROP) continue;
        if (r == SPACE) { pending_space = o > 0; continue; }
        if (pending_space) { out[o++] = ' '; pending_space = false; }
        if (r) {
            size_t rl = strlen(r);
            memcpy(out + o, r, rl);
            o += rl;
        } else {
            o += put_cp(out + o, cp);
        }
    }
    out[o] = 0;
    return o;
}
