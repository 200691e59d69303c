/*
 * A fresh directory for each test of a store (cmocka setup and teardown):
 * /tmp/<TMPDIR_PREFIX>.XXXXXX in dir, removed with whatever the test left
 * in it.  Define TMPDIR_PREFIX before including this.
 */
#ifndef TW_TEST_TMPDIR_H
#define TW_TEST_TMPDIR_H

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/%s.XXXXXX", TMPDIR_PREFIX);
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

#endif
