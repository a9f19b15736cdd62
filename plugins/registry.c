/*
 * Every plugin, once. `gleaner --plugins` lists them in this order; the
 * config finds them here by kind and name. A new plugin adds one line.
 */
#include <stddef.h>

#include "core/plugin.h"

extern const struct gl_plugin gl_in_dummy;
extern const struct gl_plugin gl_in_internal_metrics;
extern const struct gl_plugin gl_in_node_metrics;
extern const struct gl_plugin gl_in_prometheus_scrape;
extern const struct gl_plugin gl_in_systemd;
extern const struct gl_plugin gl_in_tail;
extern const struct gl_plugin gl_filter_aws;
extern const struct gl_plugin gl_filter_grep;
extern const struct gl_plugin gl_filter_kubernetes;
extern const struct gl_plugin gl_filter_labels;
extern const struct gl_plugin gl_filter_metrics_selector;
extern const struct gl_plugin gl_filter_modify;
extern const struct gl_plugin gl_filter_parser;
extern const struct gl_plugin gl_out_null;
extern const struct gl_plugin gl_out_stdout;
extern const struct gl_plugin gl_out_file;
extern const struct gl_plugin gl_out_cloudwatch_logs;
extern const struct gl_plugin gl_out_es;
extern const struct gl_plugin gl_out_prometheus_exporter;
extern const struct gl_plugin gl_out_prometheus_remote_write;

const struct gl_plugin *const gl_plugins[] = {
    &gl_in_dummy,
    &gl_in_internal_metrics,
    &gl_in_node_metrics,
    &gl_in_prometheus_scrape,
    &gl_in_systemd,
    &gl_in_tail,
    &gl_filter_aws,
    &gl_filter_grep,
    &gl_filter_kubernetes,
    &gl_filter_labels,
    &gl_filter_metrics_selector,
    &gl_filter_modify,
    &gl_filter_parser,
    &gl_out_cloudwatch_logs,
    &gl_out_es,
    &gl_out_file,
    &gl_out_null,
    &gl_out_prometheus_exporter,
    &gl_out_prometheus_remote_write,
    &gl_out_stdout,
    NULL,
};
