/*
 * gleaner's entry point: the command line, then one libuv loop running the
 * pipeline until SIGTERM/SIGINT (stop inputs, flush within grace, exit 0).
 * SIGHUP reloads the configuration file: the new pipeline replaces the old
 * one only when it is valid; otherwise its errors are logged and the old one
 * keeps running. Without -c the embedded default (config/gleaner.yaml) runs.
 */
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/convert.h"
#include "core/engine.h"
#include "core/log.h"
#include "core/parser.h"
#include "core/plugin.h"
#include "net/api.h"
#include "net/http_client.h"
#include "util/buf.h"

extern const char gl_default_config[];
extern const size_t gl_default_config_len;

#define EMBEDDED_NAME "gleaner.yaml (embedded)"

struct agent {
    uv_loop_t loop;
    const char *config_file;     /* NULL: the embedded default */
    struct gl_engine *engine;
    struct gl_engine *next;      /* a reloaded pipeline waiting for the old one to stop */
    struct gl_api api;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    bool stopping;
    int exit_code;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: gleaner [-c FILE]            run (the embedded default config without -c)\n"
            "       gleaner --check -c FILE      validate the config; errors exit 1\n"
            "       gleaner --dry-run -c FILE    print the routing graph and exit\n"
            "       gleaner --convert FILE       print a Fluent Bit classic config as YAML\n"
            "       gleaner --plugins            list plugins\n"
            "       gleaner --help-plugin NAME   options of one plugin\n"
            "       gleaner --version\n");
}

static struct gl_config *load_config(const char *file)
{
    if (file == NULL) {
        return gl_config_load_text(EMBEDDED_NAME, gl_default_config, gl_default_config_len);
    }
    return gl_config_load_file(file);
}

static void print_errors(const struct gl_config *cfg, FILE *out)
{
    for (size_t i = 0; i < cfg->error_count; i++) {
        fprintf(out, "%s\n", cfg->errors[i]);
    }
}

/* ---- informational commands -------------------------------------------- */

/* The option column's width: 24, or the longest name in t if longer. */
static int name_width(const struct gl_option *t, int w)
{
    for (; t != NULL && t->name != NULL; t++) {
        int n = (int)strlen(t->name);
        w = n > w ? n : w;
    }
    return w;
}

static void print_table(const struct gl_option *t, int w, FILE *out)
{
    for (; t != NULL && t->name != NULL; t++) {
        const char *def = t->required ? "(required)" : t->def ? t->def : "-";
        fprintf(out, "  %-*s %-9s %-26s %s\n", w, t->name, gl_option_type_name(t->type), def,
                t->help);
    }
}

static int list_plugins(void)
{
    for (size_t i = 0; gl_plugins[i] != NULL; i++) {
        const struct gl_plugin *p = gl_plugins[i];
        printf("%-7s %-22s %-14s %s\n", gl_plugin_kind_name(p->kind), p->name,
               gl_data_name(gl_plugin_data(p)), p->description);
    }
    return 0;
}

static int help_plugin(const char *name)
{
    int found = 0;
    for (size_t i = 0; gl_plugins[i] != NULL; i++) {
        const struct gl_plugin *p = gl_plugins[i];
        if (strcmp(p->name, name) != 0 && (p->other_name == NULL ||
                                            strcmp(p->other_name, name) != 0)) {
            continue;
        }
        printf("%s%s (%s): %s\n\n", found ? "\n" : "", p->name, gl_plugin_kind_name(p->kind),
               p->description);
        const struct gl_option *common = gl_engine_common_options(p->kind);
        int w = name_width(common, name_width(p->options, 24));
        printf("  %-*s %-9s %-26s %s\n", w, "OPTION", "TYPE", "DEFAULT", "MEANING");
        print_table(p->options, w, stdout);
        printf("\n  Options every %s has:\n", gl_plugin_kind_name(p->kind));
        print_table(common, w, stdout);
        found = 1;
    }
    if (!found) {
        fprintf(stderr, "gleaner: no plugin named '%s' (gleaner --plugins lists them)\n", name);
        return 1;
    }
    return 0;
}

/* Writes s as a Markdown table cell: a | would end the cell, so it is escaped. */
static void md_cell(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|') {
            putchar('\\');
        }
        putchar(*s);
    }
}

static void md_table(const struct gl_option *t)
{
    printf("| option | type | default | meaning |\n|---|---|---|---|\n");
    for (; t != NULL && t->name != NULL; t++) {
        const char *def = t->required ? "required" : t->def ? t->def : "";
        printf("| `%s` | %s | %s", t->name, gl_option_type_name(t->type), *def ? "`" : "");
        md_cell(def);
        printf("%s | ", *def ? "`" : "");
        md_cell(t->help);
        printf(" |\n");
    }
}

/* The README's option reference, generated from the same tables. */
static int docs_markdown(void)
{
    printf("### service\n\n");
    md_table(gl_engine_service_options());
    for (int k = GL_INPUT; k <= GL_OUTPUT; k++) {
        printf("\n### Options every %s has\n\n", gl_plugin_kind_name((enum gl_kind)k));
        md_table(gl_engine_common_options((enum gl_kind)k));
    }
    for (size_t i = 0; gl_plugins[i] != NULL; i++) {
        const struct gl_plugin *p = gl_plugins[i];
        printf("\n### %s `%s`\n\n%s (%s).", gl_plugin_kind_name(p->kind), p->name,
               p->description, gl_data_name(gl_plugin_data(p)));
        if (p->other_name != NULL) {
            printf(" Also accepted as `%s`.", p->other_name);
        }
        printf("\n\n");
        if (p->options == NULL || p->options[0].name == NULL) {
            printf("No options of its own.\n");
            continue;
        }
        md_table(p->options);
    }
    return 0;
}

/*
 * --convert: a classic config printed as YAML on stdout; its errors, as
 * --check prints them, on stderr with exit status 1.
 */
static int convert(const char *file)
{
    struct gl_buf out;
    gl_buf_init(&out);
    struct gl_config *cfg = gl_convert_classic(file, &out);
    int rc = 0;
    if (cfg->error_count > 0) {
        print_errors(cfg, stderr);
        fprintf(stderr, "%s: %zu error%s\n", cfg->file, cfg->error_count,
                cfg->error_count == 1 ? "" : "s");
        rc = 1;
    } else {
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    }
    gl_buf_close(&out);
    gl_config_free(cfg);
    return rc;
}

/* --check and --dry-run: build the pipeline without starting it. */
static int check_config(const char *file, int dry_run)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    gl_http_global_init(&loop);
    struct gl_config *cfg = load_config(file);
    /*
     * The classic reader keeps its tree past a malformed line, so the engine
     * still reports the sections' errors with it: all of them in one run.
     */
    bool build = cfg->error_count == 0 || (cfg->classic && cfg->root != NULL);
    struct gl_engine *e = build ? gl_engine_new(&loop, cfg) : NULL;
    int rc = 0;
    if (e == NULL) {
        print_errors(cfg, stderr);
        fprintf(stderr, "%s: %zu error%s\n", cfg->file, cfg->error_count,
                cfg->error_count == 1 ? "" : "s");
        rc = 1;
    } else if (dry_run) {
        struct gl_buf b;
        gl_buf_init(&b);
        gl_engine_describe(e, &b);
        fputs(b.data ? b.data : "", stdout);
        gl_buf_close(&b);
    } else {
        printf("%s: configuration OK\n", cfg->file);
    }
    gl_engine_free(e);
    gl_config_free(cfg);
    gl_parsers_reset();
    gl_http_global_shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}

/* ---- running ----------------------------------------------------------- */

static void close_signals(struct agent *a)
{
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_hup, NULL);
}

static void on_stopped(struct gl_engine *e, void *data)
{
    struct agent *a = data;
    (void)e;
    a->api.engine = NULL;
    gl_api_stop(&a->api);
    close_signals(a);
    gl_http_global_shutdown();
}

static void on_inputs_done(struct gl_engine *e, void *data);

static void on_reload_stopped(struct gl_engine *old, void *data)
{
    struct agent *a = data;
    gl_engine_free(old);
    a->engine = a->next;
    a->next = NULL;
    a->engine->done_cb = on_inputs_done;
    a->engine->done_data = a;
    if (gl_engine_start(a->engine) < 0) {
        gl_log_error(NULL, "reloaded pipeline failed to start; stopping");
        a->exit_code = 1;
        a->stopping = true;
        a->api.ready = false;
        gl_engine_stop(a->engine, on_stopped, a);
        return;
    }
    a->api.engine = a->engine;
    a->api.reloads++;
    gl_log_info(NULL, "configuration reloaded");
}

static void reload(struct agent *a)
{
    if (a->stopping || a->next != NULL) {
        gl_log_warn(NULL, "SIGHUP ignored: a stop or reload is already under way");
        return;
    }
    struct gl_config *cfg = load_config(a->config_file);
    struct gl_engine *e = cfg->error_count == 0 ? gl_engine_new(&a->loop, cfg) : NULL;
    if (e == NULL) {
        for (size_t i = 0; i < cfg->error_count; i++) {
            gl_log_error(NULL, "reload: %s", cfg->errors[i]);
        }
        gl_log_error(NULL, "reload rejected (%zu errors); the running pipeline is unchanged",
                     cfg->error_count);
        a->api.reload_failures++;
        gl_config_free(cfg);
        return;
    }
    gl_config_free(cfg);
    gl_log_info(NULL, "reloading: stopping the running pipeline");
    a->next = e;
    a->api.engine = NULL;
    gl_engine_stop(a->engine, on_reload_stopped, a);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct agent *a = s->data;
    if (signum == SIGHUP) {
        reload(a);
        return;
    }
    if (a->stopping) {
        gl_log_warn(NULL, "second stop signal: exiting without waiting for grace");
        a->engine->svc.grace_ms = 0;
        uv_timer_start(&a->engine->grace_timer, a->engine->grace_timer.timer_cb, 0, 0);
        return;
    }
    gl_log_info(NULL, "signal %d: stopping inputs and flushing", signum);
    a->stopping = true;
    a->api.ready = false;
    if (a->next != NULL) {
        /* A reload is half done: drop the new pipeline, stop the old one. */
        gl_engine_free(a->next);
        a->next = NULL;
    }
    gl_engine_stop(a->engine, on_stopped, a);
}

/* Every input is done (exit_on_eof): stop as on SIGTERM, on the next loop turn. */
static void on_inputs_done(struct gl_engine *e, void *data)
{
    struct agent *a = data;
    if (a->stopping || e != a->engine) {
        return;
    }
    a->stopping = true;
    a->api.ready = false;
    gl_engine_stop(a->engine, on_stopped, a);
}

static void start_signal(struct agent *a, uv_signal_t *s, int signum)
{
    uv_signal_init(&a->loop, s);
    s->data = a;
    uv_signal_start(s, on_signal, signum);
}

/*
 * A node can have thousands of container logs open at once; the soft limit
 * on descriptors (often 1024) is raised to the hard limit.
 */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int run(const char *file)
{
    struct agent a;
    memset(&a, 0, sizeof(a));
    a.config_file = file;
    uv_loop_init(&a.loop);
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();
    /*
     * Blocks of 256 KiB and more (chunks, encoded flushes) are mapped of
     * their own, so that freeing one gives its memory back and growing one
     * moves no bytes. glibc would otherwise raise this threshold as such
     * blocks are freed and serve them from its heap, where they stay as
     * fragments: measured, twice the resident memory on a busy node. The
     * page faults this costs are kept down by the big-buffer pool.
     */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    gl_http_global_init(&a.loop);
    struct gl_config *cfg = load_config(file);
    a.engine = cfg->error_count == 0 ? gl_engine_new(&a.loop, cfg) : NULL;
    if (a.engine == NULL) {
        print_errors(cfg, stderr);
        gl_config_free(cfg);
        gl_parsers_reset();
        gl_http_global_shutdown();
        uv_run(&a.loop, UV_RUN_DEFAULT);
        uv_loop_close(&a.loop);
        return 1;
    }
    a.api.config_name = file ? file : EMBEDDED_NAME;
    a.engine->done_cb = on_inputs_done;
    a.engine->done_data = &a;
    gl_config_free(cfg);
    start_signal(&a, &a.sig_term, SIGTERM);
    start_signal(&a, &a.sig_int, SIGINT);
    start_signal(&a, &a.sig_hup, SIGHUP);
    const struct gl_service *svc = &a.engine->svc;
    if (svc->http_server &&
        gl_api_start(&a.api, &a.loop, svc->http_listen, (int)svc->http_port) < 0) {
        a.exit_code = 1;
    }
    if (a.exit_code == 0 && gl_engine_start(a.engine) < 0) {
        a.exit_code = 1;
    }
    a.api.engine = a.engine;
    a.api.started = a.api.ready = a.exit_code == 0;
    if (a.exit_code == 0) {
        gl_log_info(NULL, "gleaner %s running (%s)", GL_VERSION, a.api.config_name);
    } else {
        a.stopping = true;
        gl_engine_stop(a.engine, on_stopped, &a);
    }
    uv_run(&a.loop, UV_RUN_DEFAULT);
    gl_engine_free(a.engine);
    uv_run(&a.loop, UV_RUN_DEFAULT);
    gl_parsers_reset();
    if (uv_loop_close(&a.loop) != 0) {
        gl_log_error(NULL, "handles left open at exit");
        return 1;
    }
    if (a.exit_code == 0) {
        gl_log_info(NULL, "exited cleanly");
    } else {
        gl_log_error(NULL, "exited with status %d: a pipeline could not start (see above)",
                     a.exit_code);
    }
    return a.exit_code;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int check = 0, dry_run = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if ((strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(arg, "--check") == 0) {
            check = 1;
        } else if (strcmp(arg, "--dry-run") == 0) {
            dry_run = 1;
        } else if (strcmp(arg, "--convert") == 0 && i + 1 < argc) {
            return convert(argv[i + 1]);
        } else if (strcmp(arg, "--plugins") == 0) {
            return list_plugins();
        } else if (strcmp(arg, "--help-plugin") == 0 && i + 1 < argc) {
            return help_plugin(argv[i + 1]);
        } else if (strcmp(arg, "--docs-markdown") == 0) {
            return docs_markdown();
        } else if (strcmp(arg, "--version") == 0) {
            printf("gleaner %s\n", GL_VERSION);
            return 0;
        } else if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "gleaner: unknown argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    if (check || dry_run) {
        return check_config(file, dry_run);
    }
    return run(file);
}
