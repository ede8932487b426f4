/* Unit tests for JT/T 808 registrations (src/model/terminals.c): a registered terminal's code is
 * never handed out again; an operator reset (who, why, recorded) allows exactly one more
 * registration within the window, which replaces the code; hex-digit phones are keyed like the
 * park model keys them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/log.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char db[128];
    struct model *m;
};

static void quiet(const char *line, size_t len, void *arg)
{
    (void)line, (void)len, (void)arg;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/pw_term_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/meta.db", f->dir);
    pw_log_set_sink(quiet, NULL);
    if (model_open(f->db, &f->m) != PW_OK)
        return -1;
    const char *j = "{\"version\":1,\"enterprises\":[{\"id\":\"E1\",\"name\":\"甲\"}],"
                    "\"vehicles\":[{\"id\":\"V1\",\"plate\":\"鲁C1\",\"enterprise\":\"E1\","
                    "\"terminal_phone\":\"00004F07788EF676\"}]}";
    if (model_import_json(f->m, j, strlen(j), 0, err, sizeof err) != PW_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    model_close(f->m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void test_register_once(void **state)
{
    struct fx *f = *state;
    struct model_terminal_reg reg = {"鲁C1", 1, "MK", "MODEL", "T1"};
    char code[MODEL_AUTH_CODE_LEN + 1], again[MODEL_AUTH_CODE_LEN + 1] = "untouched";
    bool after = true;
    assert_int_equal(model_terminal_register(f->m, "013800000001", &reg, 0, "1.2.3.4:5", code,
                                             sizeof code, &after),
                     PW_OK);
    assert_false(after);
    assert_int_equal(strlen(code), MODEL_AUTH_CODE_LEN);
    /* a second registration (any peer, either phone form) gets no code */
    assert_int_equal(model_terminal_register(f->m, "13800000001", &reg, 0, "6.6.6.6:1", again,
                                             sizeof again, NULL),
                     PW_EEXIST);
    assert_string_equal(again, "untouched");
    assert_int_equal(model_terminal_auth(f->m, "13800000001", code, strlen(code)), PW_OK);
    assert_int_equal(model_terminal_auth(f->m, "13800000001", "0000000000000000", 16), PW_EAUTH);
    /* deregistration frees the phone */
    assert_int_equal(model_terminal_deregister(f->m, "13800000001"), PW_OK);
    assert_int_equal(
        model_terminal_register(f->m, "13800000001", &reg, 0, "x", again, sizeof again, NULL),
        PW_OK);
    assert_string_not_equal(again, code);
}

static void test_reset(void **state)
{
    struct fx *f = *state;
    char c1[MODEL_AUTH_CODE_LEN + 1], c2[MODEL_AUTH_CODE_LEN + 1], c3[MODEL_AUTH_CODE_LEN + 1];
    bool after = false;
    struct model_terminal_reset rs;
    /* nothing to reset before a registration */
    assert_int_equal(model_terminal_reset(f->m, "13900000001", "admin", "lost", &rs), PW_ENOTFOUND);
    assert_int_equal(
        model_terminal_register(f->m, "13900000001", NULL, 3600000, "a", c1, sizeof c1, NULL),
        PW_OK);
    /* who and why are required */
    assert_int_equal(model_terminal_reset(f->m, "13900000001", "admin", "", &rs), PW_EINVAL);
    assert_int_equal(model_terminal_reset(f->m, "13900000001", "admin", "   ", &rs), PW_EINVAL);
    assert_int_equal(model_terminal_reset(f->m, "13900000001", "", "lost", &rs), PW_EINVAL);
    assert_int_equal(model_terminal_reset(f->m, "13900000001", "admin", "\xff\xfe", &rs),
                     PW_EINVAL);
    assert_int_equal(model_terminal_reset(f->m, "013900000001", "admin", "终端更换", &rs), PW_OK);
    assert_true(rs.id > 0);
    assert_string_equal(rs.phone_key, "13900000001");
    /* the old code works until the registration that uses the reset */
    assert_int_equal(model_terminal_auth(f->m, "13900000001", c1, strlen(c1)), PW_OK);
    assert_int_equal(model_terminal_register(f->m, "13900000001", NULL, 3600000, "9.9.9.9:1", c2,
                                             sizeof c2, &after),
                     PW_OK);
    assert_true(after);
    assert_string_not_equal(c1, c2);
    assert_int_equal(model_terminal_auth(f->m, "13900000001", c1, strlen(c1)), PW_EAUTH);
    assert_int_equal(model_terminal_auth(f->m, "13900000001", c2, strlen(c2)), PW_OK);
    /* one reset, one registration */
    assert_int_equal(
        model_terminal_register(f->m, "13900000001", NULL, 3600000, "b", c3, sizeof c3, NULL),
        PW_EEXIST);
    /* a reset older than the window is not usable */
    assert_int_equal(model_terminal_reset(f->m, "13900000001", "cli:ops", "test expiry", &rs),
                     PW_OK);
    usleep(20000);
    assert_int_equal(
        model_terminal_register(f->m, "13900000001", NULL, 5, "c", c3, sizeof c3, NULL), PW_EEXIST);
    /* the record: newest first, with its state */
    struct pw_buf b;
    pw_buf_init(&b, 0);
    assert_int_equal(model_terminal_resets_json(f->m, "13900000001", 5, &b), PW_OK);
    pw_buf_putc(&b, '\0');
    const char *j = b.data;
    assert_non_null(strstr(j, "\"registered\":true"));
    const char *exp = strstr(j, "\"state\":\"expired\""), *used = strstr(j, "\"state\":\"used\"");
    assert_non_null(exp);
    assert_non_null(used);
    assert_true(exp < used);
    assert_non_null(strstr(j, "\"reason\":\"终端更换\""));
    assert_non_null(strstr(j, "\"by\":\"admin\""));
    assert_non_null(strstr(j, "\"used_by_peer\":\"9.9.9.9:1\""));
    pw_buf_release(&b);
    assert_int_equal(model_terminal_resets_json(f->m, "12-3", 0, &b), PW_EINVAL);
}

/* a terminal with a hex id in its phone field: registered, found in the model and reset under
 * one key, whatever the case and padding it is written with */
static void test_hex_phone(void **state)
{
    struct fx *f = *state;
    char code[MODEL_AUTH_CODE_LEN + 1];
    struct model_jt808_terminal t;
    assert_int_equal(model_terminal_by_phone(f->m, "4f07788ef676", &t), PW_OK);
    assert_string_equal(t.vehicle, "V1");
    assert_int_equal(model_terminal_by_phone(f->m, "004F07788EF676", &t), PW_OK);
    assert_int_equal(
        model_terminal_register(f->m, "4f07788ef676", NULL, 0, "p", code, sizeof code, NULL),
        PW_OK);
    assert_int_equal(model_terminal_registered(f->m, "4F07788EF676"), PW_OK);
    assert_int_equal(model_terminal_auth(f->m, "04F07788Ef676", code, strlen(code)), PW_OK);
    assert_int_equal(
        model_terminal_register(f->m, "4F07788EF676", NULL, 0, "p", code, sizeof code, NULL),
        PW_EEXIST);
    assert_int_equal(model_terminal_reset(f->m, "4F07788EF676", "admin", "swap", NULL), PW_OK);
    assert_int_equal(
        model_terminal_register(f->m, "4f07788ef676", NULL, 0, "p", code, sizeof code, NULL),
        PW_OK);
    assert_int_equal(
        model_terminal_register(f->m, "4f0778-8ef676", NULL, 0, "p", code, sizeof code, NULL),
        PW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_register_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hex_phone, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
