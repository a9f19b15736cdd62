/*
 * Written times: the agent's one reader of timestamps in text. The RFC 3339
 * fast path reads the time at the front of every container log line (tail's
 * CRI and docker lines) and the Expiration of AWS credentials; the
 * strptime-like reader serves the time_format of named parsers. Both read
 * exactly the bytes given (no NUL needed) and write their result only on
 * success.
 */
#ifndef GL_TIMEFMT_H
#define GL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)", the whole of s and
 * nothing else, into nanoseconds since the epoch. T and Z may be lowercase.
 * The fraction has at least one digit; the first nine count and further
 * ones are read and ignored. A second of 60 (a leap second) counts as the
 * next second. Impossible dates (2023-02-29), times before 1970 and times
 * past what 64 bits of nanoseconds hold (2554-07-21T23:34:33.709551615Z)
 * are GL_EPARSE. Returns 0 or GL_EPARSE.
 */
int gl_timefmt_parse_rfc3339(const char *s, size_t n, uint64_t *ns);

/*
 * The same grammar into whole seconds since the epoch, the fraction
 * dropped, for any year from 0000 to 9999 (negative before 1970). Returns 0
 * or GL_EPARSE.
 */
int gl_timefmt_parse_rfc3339_sec(const char *s, size_t n, int64_t *sec);

/*
 * Reads s (n bytes) with a strptime-like format into nanoseconds since the
 * epoch. Conversions: %Y %m %d %e %H %M %S %I %y %j, %b/%h/%B (month name),
 * %a/%A (day name, ignored), %p, %z (Z, +hh, +hhmm, +hh:mm), %Z (zone name,
 * ignored), %s (epoch seconds, fraction allowed), %L (fractional seconds:
 * the first nine digits count), %T (= %H:%M:%S), %F (= %Y-%m-%d), %% and
 * literal text; white space in the format matches any run of white space,
 * and trailing white space in s is allowed. Without %z the time is UTC;
 * without a year it is in the current year. Impossible dates, times before
 * 1970 and past 2554 are GL_EPARSE. Returns 0 or GL_EPARSE.
 */
int gl_timefmt_parse(const char *format, const char *s, size_t n, uint64_t *ns);

/* Returns NULL when format uses only the conversions above, else a short static message. */
const char *gl_timefmt_check(const char *format);

#endif
