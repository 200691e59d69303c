/* The config file reader (daemon/config.c): a byte order mark, NUL bytes,
 * a directory, a network_key in a file others can read, and the line and
 * file size limits at their edges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "twin/err.h"
#include "twin/keytext.h"
#include "twin/limits.h"
#include "twin/addr.h"
#include "config.h"
#include "log.h"

static char err[1024];

static int parse(tw_config *c, const char *text, size_t len)
{
    FILE *f = fmemopen((void *)text, len, "r");
    assert_non_null(f);
    tw_config_defaults(c);
    err[0] = 0;
    int rc = tw_config_parse(c, f, "t.conf", err, sizeof err);
    fclose(f);
    return rc;
}

static void test_bom(void **state)
{
    tw_config c;
    static const char bom[] = "\xEF\xBB\xBFlog_level = debug\n";
    assert_int_equal(parse(&c, bom, sizeof bom - 1), 0);
    assert_int_equal(c.log_level, TW_LOG_DEBUG);
    /* A BOM alone, or before a comment, is an empty file. */
    assert_int_equal(parse(&c, "\xEF\xBB\xBF", 3), 0);
    assert_int_equal(parse(&c, "\xEF\xBB\xBF# comment\n", 12), 0);
    /* Only at the start of the file: elsewhere it is part of a key. */
    static const char late[] = "log_level = info\n\xEF\xBB\xBFlog_level = debug\n";
    assert_int_equal(parse(&c, late, sizeof late - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:2: unknown setting"));
}

static void test_nul(void **state)
{
    tw_config c;
    static const char t[] = "log_level = warn\0peer = 127.0.0.1:1\n";
    assert_int_equal(parse(&c, t, sizeof t - 1), TW_EINVAL);
    assert_string_equal(err, "t.conf:1: NUL byte: this is not a text file");
    static const char t2[] = "log_level = warn\n# fine\n\0";
    assert_int_equal(parse(&c, t2, sizeof t2 - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:3: NUL byte"));
    /* Without NUL bytes the same settings pass, the last line without a newline too. */
    static const char t3[] = "log_level = warn\npeer = 127.0.0.1:1";
    assert_int_equal(parse(&c, t3, sizeof t3 - 1), 0);
    assert_int_equal(c.log_level, TW_LOG_WARN);
    assert_int_equal(c.npeers, 1);
}

/* TW_CONF_LINE_MAX bytes in a line pass, one more is refused. */
static void test_line_edge(void **state)
{
    tw_config c;
    char *t = malloc(TW_CONF_LINE_MAX + 3);
    assert_non_null(t);
    memset(t, '#', TW_CONF_LINE_MAX + 1);
    t[TW_CONF_LINE_MAX] = '\n';
    assert_int_equal(parse(&c, t, TW_CONF_LINE_MAX + 1), 0);
    t[TW_CONF_LINE_MAX] = '#';
    t[TW_CONF_LINE_MAX + 1] = '\n';
    assert_int_equal(parse(&c, t, TW_CONF_LINE_MAX + 2), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:1: line longer than 1024 bytes"));
    free(t);
}

/* A file of TW_CONF_FILE_MAX bytes passes, one more byte is refused. */
static void test_file_edge(void **state)
{
    tw_config c;
    size_t n = TW_CONF_FILE_MAX;
    char *t = malloc(n + 1);
    assert_non_null(t);
    for (size_t i = 0; i < n; i += 64) {
        memset(t + i, '#', 63);
        t[i + 63] = '\n';
    }
    assert_int_equal(parse(&c, t, n), 0);
    t[n] = '\n';
    assert_int_equal(parse(&c, t, n + 1), TW_ETOOBIG);
    assert_non_null(strstr(err, "file larger than 1048576 bytes"));
    free(t);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_load(void **state)
{
    char dir[] = "/tmp/twconf.XXXXXX", path[64], line[128], key[TW_KEYTEXT_LEN + 1];
    uint8_t k[32];
    tw_config c;
    assert_non_null(mkdtemp(dir));
    /* A directory is refused, not read as an empty file. */
    tw_config_defaults(&c);
    assert_int_equal(tw_config_load(&c, dir, err, sizeof err), TW_EINVAL);
    assert_non_null(strstr(err, "is a directory, not a config file"));

    memset(k, 7, sizeof k);
    tw_keytext_encode(key, TW_NETTEXT_PREFIX, k);
    snprintf(line, sizeof line, "network_key = %s\n", key);
    snprintf(path, sizeof path, "%s/twind.conf", dir);
    static const mode_t refused[] = { 0644, 0640, 0604, 0620, 0602 };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_file(path, line, refused[i]);
        tw_config_defaults(&c);
        assert_int_equal(tw_config_load(&c, path, err, sizeof err), TW_EPERM);
        assert_non_null(strstr(err, "sets network_key and is accessible by other users"));
        assert_non_null(strstr(err, "chmod 600"));
    }
    write_file(path, line, 0600);
    tw_config_defaults(&c);
    assert_int_equal(tw_config_load(&c, path, err, sizeof err), 0);
    assert_true(c.have_network_key);
    assert_memory_equal(c.network_key, k, 32);
    write_file(path, line, 0400);
    tw_config_defaults(&c);
    assert_int_equal(tw_config_load(&c, path, err, sizeof err), 0);
    /* Without a network key, a readable config is fine. */
    write_file(path, "log_level = warn\n", 0644);
    tw_config_defaults(&c);
    assert_int_equal(tw_config_load(&c, path, err, sizeof err), 0);
    assert_int_equal(c.log_level, TW_LOG_WARN);
    /* A missing file names itself. */
    unlink(path);
    assert_int_equal(tw_config_load(&c, path, err, sizeof err), TW_EIO);
    assert_non_null(strstr(err, path));
    rmdir(dir);
}

/* learn_private and learn_loopback: yes/no words, each its own bit, the
 * default is neither; anything else is refused with file, line and reason. */
static void test_learn(void **state)
{
    tw_config c;
    assert_int_equal(parse(&c, "", 0), 0);
    assert_int_equal(c.learn_allow, 0u);
    static const char both[] = "learn_private = yes\nlearn_loopback = ON\n";
    assert_int_equal(parse(&c, both, sizeof both - 1), 0);
    assert_int_equal(c.learn_allow, TW_ADDR_ALLOW_PRIVATE | TW_ADDR_ALLOW_LOOPBACK);
    static const char off[] = "learn_private = yes\nlearn_loopback = true\nlearn_private = no\n";
    assert_int_equal(parse(&c, off, sizeof off - 1), 0);
    assert_int_equal(c.learn_allow, TW_ADDR_ALLOW_LOOPBACK);
    static const char bad[] = "learn_loopback = maybe\n";
    assert_int_equal(parse(&c, bad, sizeof bad - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:1: learn_loopback: \"maybe\" is not yes or no"));
}

/* neg_parts: on by default (nodes offer messages over several frames),
 * no turns it off, anything but yes or no is refused with its line. */
static void test_neg_parts(void **state)
{
    tw_config c;
    assert_int_equal(parse(&c, "", 0), 0);
    assert_int_equal(c.neg_parts, 1);
    static const char off[] = "neg_parts = no\n";
    assert_int_equal(parse(&c, off, sizeof off - 1), 0);
    assert_int_equal(c.neg_parts, 0);
    static const char on[] = "neg_parts = no\nneg_parts = yes\n";
    assert_int_equal(parse(&c, on, sizeof on - 1), 0);
    assert_int_equal(c.neg_parts, 1);
    static const char bad[] = "neg_parts = 4MiB\n";
    assert_int_equal(parse(&c, bad, sizeof bad - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:1: neg_parts: \"4MiB\" is not yes or no"));
}

/* inbound_max: 1 to TW_INBOUND_MAX, default TW_INBOUND_MAX; 0 and one past
 * the ceiling are refused with file, line and the range. */
static void test_inbound_max(void **state)
{
    tw_config c;
    assert_int_equal(parse(&c, "", 0), 0);
    assert_int_equal(c.inbound_max, TW_INBOUND_MAX);
    static const char one[] = "inbound_max = 1\n";
    assert_int_equal(parse(&c, one, sizeof one - 1), 0);
    assert_int_equal(c.inbound_max, 1u);
    static const char top[] = "inbound_max = 32\n";
    assert_int_equal(TW_INBOUND_MAX, 32u);
    assert_int_equal(parse(&c, top, sizeof top - 1), 0);
    assert_int_equal(c.inbound_max, 32u);
    static const char zero[] = "inbound_max = 0\n";
    assert_int_equal(parse(&c, zero, sizeof zero - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:1: inbound_max: \"0\" is not a number from 1 to 32"));
    static const char over[] = "log_level = info\ninbound_max = 33\n";
    assert_int_equal(parse(&c, over, sizeof over - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:2: inbound_max: \"33\" is not a number from 1 to 32"));
}

/* report_slice: 1 to TW_REPORT_SLICE_RECORDS, default the ceiling; 0, one
 * past it and a word are refused with file, line and the range. */
static void test_report_slice(void **state)
{
    (void)state;
    tw_config c;
    assert_int_equal(parse(&c, "", 0), 0);
    assert_int_equal(c.report_slice, TW_REPORT_SLICE_RECORDS);
    static const char one[] = "report_slice = 1\n";
    assert_int_equal(parse(&c, one, sizeof one - 1), 0);
    assert_int_equal(c.report_slice, 1u);
    static const char top[] = "report_slice = 4096\n";
    assert_int_equal(TW_REPORT_SLICE_RECORDS, 4096u);
    assert_int_equal(parse(&c, top, sizeof top - 1), 0);
    assert_int_equal(c.report_slice, 4096u);
    static const char zero[] = "report_slice = 0\n";
    assert_int_equal(parse(&c, zero, sizeof zero - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:1: report_slice: \"0\" is not a number of records from 1 to 4096"));
    static const char over[] = "log_level = info\nreport_slice = 4097\n";
    assert_int_equal(parse(&c, over, sizeof over - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:2: report_slice: \"4097\" is not a number of records from 1 to 4096"));
    static const char word[] = "report_slice = many\n";
    assert_int_equal(parse(&c, word, sizeof word - 1), TW_EINVAL);
    assert_non_null(strstr(err, "t.conf:1: report_slice: \"many\" is not a number of records from 1 to 4096"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_line_edge),
        cmocka_unit_test(test_file_edge),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_learn),
        cmocka_unit_test(test_neg_parts),
        cmocka_unit_test(test_inbound_max),
        cmocka_unit_test(test_report_slice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
