/*
 * Plugin instances and the registry lookups: finding a plugin by kind and
 * name, naming kinds, and counting dropped records by reason. The registry
 * itself is the plain array in plugins/registry.c.
 */
#include <string.h>
#include <strings.h>

#include "core/plugin.h"

const char *gl_plugin_kind_name(enum gl_kind kind)
{
    switch (kind) {
    case GL_INPUT:
        return "input";
    case GL_FILTER:
        return "filter";
    case GL_OUTPUT:
        return "output";
    }
    return "?";
}

const char *gl_data_name(unsigned data)
{
    switch (data & (GL_LOGS | GL_METRICS)) {
    case GL_LOGS:
        return "logs";
    case GL_METRICS:
        return "metrics";
    case GL_LOGS | GL_METRICS:
        return "logs, metrics";
    }
    return "nothing";
}

const struct gl_plugin *gl_plugin_find(enum gl_kind kind, const char *name)
{
    for (size_t i = 0; gl_plugins[i] != NULL; i++) {
        const struct gl_plugin *p = gl_plugins[i];
        if (p->kind == kind && (strcasecmp(p->name, name) == 0 ||
                                (p->other_name != NULL && strcasecmp(p->other_name, name) == 0))) {
            return p;
        }
    }
    return NULL;
}

/*
 * Counts dropped records under a reason. Reasons are static strings compared
 * by content once per new reason; past GL_DROP_REASONS_MAX distinct reasons
 * the rest are counted as "other".
 */
void gl_instance_drop(struct gl_instance *ins, const char *reason, uint64_t records)
{
    struct gl_drop_count *d = ins->stats.dropped;
    int i;
    for (i = 0; i < GL_DROP_REASONS_MAX && d[i].reason != NULL; i++) {
        if (d[i].reason == reason || strcmp(d[i].reason, reason) == 0) {
            d[i].records += records;
            return;
        }
    }
    if (i == GL_DROP_REASONS_MAX) {
        i = GL_DROP_REASONS_MAX - 1;
        reason = "other";
    }
    d[i].reason = reason;
    d[i].records += records;
}
