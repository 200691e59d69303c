/*
 * negentropy-harness: speaks the line protocol of the hoytech/negentropy
 * reference test harness on stdin/stdout, so twind's implementation can be
 * driven by the reference's test scripts and against other implementations.
 *
 * In:  item,<timestamp>,<hex id>   add an item (before seal)
 *      seal                        freeze the items and start a session
 *      initiate                    become the initiator; prints msg
 *      msg,<hex>                   a peer message; the responder prints msg,
 *                                  the initiator prints have/need lines and
 *                                  then msg, or done when it has nothing
 *                                  more to ask
 * Out: msg,<hex>  have,<hex id>  need,<hex id>  done
 * Env: FRAMESIZELIMIT  frame size limit in bytes, 0 (default) for none.
 *
 * Like the reference, any error (bad line, duplicate item, malformed peer
 * message, limit exceeded) ends the process with a message on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/err.h"
#include "twin/negentropy.h"

static void die(const char *what, int rc)
{
    if (rc)
        fprintf(stderr, "negentropy-harness: %s (error %d)\n", what, rc);
    else
        fprintf(stderr, "negentropy-harness: %s\n", what);
    exit(1);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex of even length into a fresh buffer; NULL if it is not hex. */
static uint8_t *unhex(const char *s, size_t slen, size_t *out_len)
{
    if (slen % 2)
        return NULL;
    uint8_t *b = malloc(slen / 2 + 1);
    if (!b)
        die("out of memory", TW_ENOMEM);
    for (size_t i = 0; i < slen / 2; i++) {
        int hi = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(b);
            return NULL;
        }
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *out_len = slen / 2;
    return b;
}

static void print_hex_line(const char *tag, const uint8_t *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    char buf[4096];
    size_t k = 0;
    fputs(tag, stdout);
    fputc(',', stdout);
    for (size_t i = 0; i < len; i++) {
        buf[k++] = digits[p[i] >> 4];
        buf[k++] = digits[p[i] & 15];
        if (k == sizeof buf) {
            fwrite(buf, 1, k, stdout);
            k = 0;
        }
    }
    fwrite(buf, 1, k, stdout);
    fputc('\n', stdout);
}

static size_t parse_limit(void)
{
    const char *e = getenv("FRAMESIZELIMIT");
    if (!e || !*e)
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(e, &end, 10);
    if (errno || *end || v > SIZE_MAX)
        die("bad FRAMESIZELIMIT", 0);
    return (size_t)v;
}

int main(void)
{
    if (sodium_init() < 0)
        die("sodium_init failed", 0);
    size_t limit = parse_limit();
    tw_neg_store *store = NULL;
    tw_neg *ne = NULL;
    tw_neg_item *pending = NULL;
    size_t npending = 0, cap = 0;
    int rc = tw_neg_store_new(&store);
    if (rc)
        die("cannot create store", rc);

    char *line = NULL;
    size_t linecap = 0;
    ssize_t got;
    while ((got = getline(&line, &linecap, stdin)) >= 0) {
        size_t len = (size_t)got;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        char *comma = strchr(line, ',');
        size_t cmdlen = comma ? (size_t)(comma - line) : len;
        const char *arg = comma ? comma + 1 : "";

        if (cmdlen == 4 && !memcmp(line, "item", 4)) {
            char *c2 = strchr(arg, ',');
            if (!c2 || strchr(c2 + 1, ','))
                die("wrong num of fields", 0);
            char *end;
            errno = 0;
            unsigned long long ts = strtoull(arg, &end, 10);
            if (errno || end != c2 || end == arg)
                die("bad timestamp", 0);
            size_t idlen;
            uint8_t *id = unhex(c2 + 1, strlen(c2 + 1), &idlen);
            if (!id || idlen != TW_NEG_ID_LEN)
                die("bad id", 0);
            if (ne)
                die("already sealed", TW_ESTATE);
            if (npending == cap) {
                cap = cap ? cap * 2 : 1024;
                tw_neg_item *p = realloc(pending, cap * sizeof *p);
                if (!p)
                    die("out of memory", TW_ENOMEM);
                pending = p;
            }
            pending[npending].ts = ts;
            memcpy(pending[npending].id, id, TW_NEG_ID_LEN);
            npending++;
            free(id);
        } else if (cmdlen == 4 && !memcmp(line, "seal", 4)) {
            size_t added;
            if (ne)
                die("already sealed", TW_ESTATE);
            /* One sorted batch, as the reference sorts once at seal. */
            rc = tw_neg_store_insert_batch(store, pending, npending, &added);
            if (rc)
                die("cannot insert items", rc);
            if (added != npending)
                die("duplicate item inserted", TW_EEXIST);
            free(pending);
            pending = NULL;
            npending = cap = 0;
            rc = tw_neg_store_seal(store);
            if (!rc)
                rc = tw_neg_new(&ne, store, limit);
            if (rc)
                die("cannot start session", rc);
        } else if (cmdlen == 8 && !memcmp(line, "initiate", 8)) {
            const uint8_t *out;
            size_t olen;
            if (!ne)
                die("not sealed", TW_ESTATE);
            rc = tw_neg_initiate(ne, &out, &olen);
            if (rc)
                die("initiate failed", rc);
            if (limit && olen > limit)
                die("initiate frameSizeLimit exceeded", TW_ETOOBIG);
            print_hex_line("msg", out, olen);
            fflush(stdout);
        } else if (cmdlen == 3 && !memcmp(line, "msg", 3)) {
            size_t qlen = 0;
            const uint8_t *out;
            size_t olen;
            if (!ne)
                die("not sealed", TW_ESTATE);
            uint8_t *q = unhex(arg, strlen(arg), &qlen);
            if (!q)
                die("bad hex in msg", 0);
            rc = tw_neg_reconcile(ne, q, qlen, &out, &olen);
            free(q);
            if (rc)
                die("reconcile failed", rc);
            if (tw_neg_is_initiator(ne)) {
                size_t nh, nn;
                const uint8_t *have = tw_neg_have(ne, &nh);
                const uint8_t *need = tw_neg_need(ne, &nn);
                for (size_t i = 0; i < nh; i++)
                    print_hex_line("have", have + i * TW_NEG_ID_LEN, TW_NEG_ID_LEN);
                for (size_t i = 0; i < nn; i++)
                    print_hex_line("need", need + i * TW_NEG_ID_LEN, TW_NEG_ID_LEN);
                tw_neg_clear_ids(ne);
                if (olen == 0) {
                    fputs("done\n", stdout);
                    fflush(stdout);
                    continue;
                }
            }
            if (limit && olen > limit)
                die("frameSizeLimit exceeded", TW_ETOOBIG);
            print_hex_line("msg", out, olen);
            fflush(stdout);
        } else {
            die("unknown cmd", 0);
        }
    }
    free(line);
    free(pending);
    tw_neg_free(ne);
    tw_neg_store_free(store);
    return 0;
}
