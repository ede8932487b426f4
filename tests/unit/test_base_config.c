/* Unit tests for the configuration table: defaults, --set, INI files, bounds, unknown keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/config.h"
#include "base/err.h"
#include "base/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_defaults(void **state)
{
    struct pw_config c;
    pw_config_init(&c);
    assert_string_equal(c.http_listen, "127.0.0.1:8080");
    assert_string_equal(c.hj212_listen, "127.0.0.1:9212");
    assert_string_equal(c.jt808_listen, "127.0.0.1:6808");
    assert_string_equal(c.mqtt_broker, "127.0.0.1:1883");
    assert_string_equal(c.storage_fsync, "batch");
    assert_string_equal(c.hj212_unknown_devices, "quarantine");
    assert_true(c.auth_ingest_loopback_open);
    assert_int_equal(c.storage_retention, 5LL * 365 * 86400 * 1000);
    assert_int_equal(c.http_max_body, 64LL << 20);
    pw_config_release(&c);
}

static void test_set(void **state)
{
    struct pw_config c;
    char err[256];
    pw_config_init(&c);
    assert_int_equal(pw_config_set_arg(&c, "storage.retention=30d", err, sizeof err), PW_OK);
    assert_int_equal(c.storage_retention, 30LL * 86400 * 1000);
    assert_int_equal(pw_config_set_arg(&c, "storage.fsync=always", err, sizeof err), PW_OK);
    assert_string_equal(c.storage_fsync, "always");
    assert_int_equal(pw_config_set_arg(&c, "auth.ingest_loopback_open=false", err, sizeof err),
                     PW_OK);
    assert_false(c.auth_ingest_loopback_open);
    assert_int_equal(pw_config_set_arg(&c, "http.max_body=1MiB", err, sizeof err), PW_OK);
    assert_int_equal(c.http_max_body, 1 << 20);
    pw_config_release(&c);
}

static void test_refused(void **state)
{
    struct pw_config c;
    char err[256];
    pw_config_init(&c);
    assert_int_equal(pw_config_set_arg(&c, "http.nosuch=1", err, sizeof err), PW_ECONFIG);
    assert_non_null(strstr(err, "http.nosuch"));
    assert_int_equal(pw_config_set_arg(&c, "storage.retention=1h", err, sizeof err), PW_ECONFIG);
    assert_non_null(strstr(err, "storage.retention"));
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(c.storage_retention, 5LL * 365 * 86400 * 1000); /* unchanged */
    assert_int_equal(pw_config_set_arg(&c, "storage.fsync=sometimes", err, sizeof err),
                     PW_ECONFIG);
    assert_non_null(strstr(err, "always|batch|off"));
    assert_int_equal(pw_config_set_arg(&c, "http.max_connections=abc", err, sizeof err),
                     PW_ECONFIG);
    assert_int_equal(pw_config_set_arg(&c, "http.max_connections=0", err, sizeof err),
                     PW_ECONFIG);
    assert_int_equal(pw_config_set_arg(&c, "noequals", err, sizeof err), PW_ECONFIG);
    assert_int_equal(pw_config_set_arg(&c, "auth.ingest_loopback_open=maybe", err, sizeof err),
                     PW_ECONFIG);
    pw_config_release(&c);
}

static void test_ini_file(void **state)
{
    struct pw_config c;
    char err[256], path[] = "/tmp/pwcfgXXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# comment\n[http]\nlisten = 0.0.0.0:9090\n\n[storage]\nretention = 30d\n");
    fclose(f);
    pw_config_init(&c);
    assert_int_equal(pw_config_load_file(&c, path, err, sizeof err), PW_OK);
    assert_string_equal(c.http_listen, "0.0.0.0:9090");
    assert_int_equal(c.storage_retention, 30LL * 86400 * 1000);

    f = fopen(path, "w");
    fprintf(f, "[http]\nlisten = x\n[storage]\nbogus = 1\n");
    fclose(f);
    assert_int_equal(pw_config_load_file(&c, path, err, sizeof err), PW_ECONFIG);
        assert_non_null(strstr(err, "storage.bogus"));

    f = fopen(path, "w");
    fprintf(f, "[http\nlisten = x\n");
    fclose(f);
    assert_int_equal(pw_config_load_file(&c, path, err, sizeof err), PW_ECONFIG);
    assert_non_null(strstr(err, ":1:"));
    unlink(path);
    pw_config_release(&c);
}

static void test_defaults_file_roundtrip(void **state)
{
    /* the generated file must load back to the defaults */
    struct pw_config c, d;
    char err[256], path[] = "/tmp/pwcfgXXXXXX", a[4200], b[4200];
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    pw_config_write_ini(f, NULL);
    fclose(f);
    pw_config_init(&c);
    pw_config_init(&d);
    pw_config_set_arg(&c, "storage.retention=30d", err, sizeof err);
    assert_int_equal(pw_config_load_file(&c, path, err, sizeof err), PW_OK);
    size_t n;
    const struct pw_config_key *k = pw_config_keys(&n);
    for (size_t i = 0; i < n; i++) {
        pw_config_format(&c, &k[i], a, sizeof a);
        pw_config_format(&d, &k[i], b, sizeof b);
        assert_string_equal(a, b);
    }
    unlink(path);
    pw_config_release(&c);
    pw_config_release(&d);
}

static void test_durations_and_times(void **state)
{
    int64_t ms;
    char buf[64];
    assert_int_equal(pw_duration_parse("1h30m", &ms), PW_OK);
    assert_int_equal(ms, 5400000);
    assert_int_equal(pw_duration_parse("5y", &ms), PW_OK);
    assert_string_equal(pw_duration_format(ms, buf, sizeof buf), "5y");
    assert_int_equal(pw_duration_parse("10x", &ms), PW_EINVAL);
    assert_int_equal(pw_duration_parse("-1s", &ms), PW_EINVAL);
    assert_int_equal(pw_duration_parse("", &ms), PW_EINVAL);
    assert_int_equal(pw_time_parse("2026-11-23T10:30:05.123Z", &ms), PW_OK);
    assert_string_equal(pw_time_format(ms, buf, sizeof buf), "2026-11-23T10:30:05.123Z");
    assert_int_equal(pw_time_parse("2026-11-23T18:30:05+08:00", &ms), PW_OK);
    assert_string_equal(pw_time_format(ms, buf, sizeof buf), "2026-11-23T10:30:05.000Z");
    assert_int_equal(pw_time_parse("1700000000.5", &ms), PW_OK);
    assert_int_equal(ms, 1700000000500LL);
    assert_int_equal(pw_time_parse("yesterday", &ms), PW_EINVAL);
    assert_int_equal(pw_time_parse("2026-13-01T00:00:00Z", &ms), PW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_set),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_ini_file),
        cmocka_unit_test(test_defaults_file_roundtrip),
        cmocka_unit_test(test_durations_and_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
