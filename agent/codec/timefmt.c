/*
 * Written times: the one place the agent turns a timestamp in text into
 * nanoseconds (or, for credentials, seconds) since the epoch.
 *
 * Two readers share one calendar. The RFC 3339 reader runs on every line of
 * every container (the CRI and docker time) and on the Expiration of AWS
 * credentials: it reads fixed positions with few branches and allocates
 * nothing. The strptime-like reader serves the time_format of named parsers
 * (json, regex, logfmt); it walks its format conversion by conversion.
 *
 * Invariant: both take text with a length, never read past it and never
 * need a NUL; both write their result only on success; and where both apply
 * (an RFC 3339 time read with its equivalent format) they give the same time.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "codec/timefmt.h"
#include "util/error.h"

#define NS_PER_SEC 1000000000u

/*
 * The RFC 3339 reader's helpers are forced inline: it runs per log line,
 * and a call costs about what the helper does; the format reader shares
 * them.
 */
#define HOT static inline __attribute__((always_inline))

/* ---- calendar ---- */

static bool is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days in month m (1-12) of year y. */
static int month_days(int64_t y, int m)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/*
 * Counts days from 1970-01-01 to the proleptic Gregorian date y-m-d (m
 * 1-12). Years are shifted to start in March, so that the leap day falls at
 * the end of a year, and counted in 400-year eras of 146097 days.
 */
HOT int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* year of era, 0-399 */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* day of March-year */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* day of era */
    return era * 146097 + doe - 719468;
}

/* Joins seconds and a fraction into *ns; GL_EPARSE before 1970 or past 64 bits (2554). */
static int to_ns(int64_t sec, int64_t frac, uint64_t *ns)
{
    if (sec < 0 || (uint64_t)sec > (UINT64_MAX - (uint64_t)frac) / NS_PER_SEC) {
        return GL_EPARSE;
    }
    *ns = (uint64_t)sec * NS_PER_SEC + (uint64_t)frac;
    return 0;
}

/* ---- digits ---- */

static bool is_digit(char c)
{
    return (unsigned)(unsigned char)c - '0' <= 9;
}

/*
 * The RFC 3339 reader takes its digits eight bytes at a time: a word's byte
 * i is the text's byte i on any host (the shifts below compile to one load
 * where memory is little-endian), and each step below treats all eight
 * bytes at once.
 */
static inline uint64_t load8(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint64_t)u[0] | (uint64_t)u[1] << 8 | (uint64_t)u[2] << 16 | (uint64_t)u[3] << 24 |
           (uint64_t)u[4] << 32 | (uint64_t)u[5] << 40 | (uint64_t)u[6] << 48 |
           (uint64_t)u[7] << 56;
}

static inline unsigned byte_at(uint64_t w, int i)
{
    return (unsigned)(w >> (8 * i)) & 0xFF;
}

/*
 * A word that is non-zero in each byte of w that is not a digit: a digit's
 * high nibble is 3 both before and after adding 6. Adding 6 carries out of a
 * byte only when that byte is 0xFA or more, itself flagged; the carry can
 * only make the next byte look like a non-digit, never like a digit.
 */
static inline uint64_t not_digits(uint64_t w)
{
    const uint64_t high = UINT64_C(0xF0F0F0F0F0F0F0F0), three = UINT64_C(0x3030303030303030);
    return ((w & high) ^ three) | (((w + UINT64_C(0x0606060606060606)) & high) ^ three);
}

/* How many bytes of w, from the first, are digits (0-8). */
static inline int leading_digits(uint64_t w)
{
    uint64_t bad = not_digits(w);
    return bad == 0 ? 8 : __builtin_ctzll(bad) / 8;
}

/* A word whose byte i is 10 * digit i + digit i + 1 of w, where both bytes are digits. */
static inline uint64_t digit_pairs(uint64_t w)
{
    uint64_t v = w & UINT64_C(0x0F0F0F0F0F0F0F0F);
    return v * 10 + (v >> 8);
}

/*
 * The number the first k digits of w write (k 1-8), followed by 8 - k
 * zeros: pairs of digits become 2-digit numbers, pairs of those 4-digit
 * numbers, and the two halves the 8-digit one, one multiply per step.
 */
static inline uint64_t eight_digits(uint64_t w, int k)
{
    uint64_t v = k == 8 ? w : w & ((UINT64_C(1) << (8 * k)) - 1);
    v = digit_pairs(v) & UINT64_C(0x00FF00FF00FF00FF);
    v = (v * 100 + (v >> 16)) & UINT64_C(0x0000FFFF0000FFFF);
    return (v * 10000 + (v >> 32)) & 0xFFFFFFFFu;
}

/*
 * Reads the digits of a fraction at p (before end) as nanoseconds: at least
 * one digit, of which the first nine count and the rest are read and
 * ignored. Returns the byte after the last digit, or NULL when p is not a
 * digit. Eight digits at a time when eight bytes are there (a CRI time's
 * nine digits and zone), one at a time otherwise.
 */
HOT const char *fraction(const char *p, const char *end, int64_t *ns)
{
    static const int32_t scale[8] = {1000000000, 100000000, 10000000, 1000000,
                                     100000,     10000,     1000,     100};
    const char *start = p;
    int64_t v = 0;
    if (end - p >= 8) {
        uint64_t w = load8(p);
        int k = leading_digits(w);
        v = k > 0 ? (int64_t)eight_digits(w, k) * 10 : 0;
        p += k;
        if (k == 8 && p < end && is_digit(*p)) {
            v += *p++ - '0';
        }
    } else {
        while (p < end && is_digit(*p)) {
            v = v * 10 + (*p - '0');
            p++;
        }
        v *= scale[p - start];
    }
    if (p == start) {
        return NULL;
    }
    while (p < end && is_digit(*p)) {
        p++;
    }
    *ns = v;
    return p;
}

/* ---- RFC 3339 ---- */

/* Two digits at p; *bad is set when either is not a digit. */
static inline unsigned two_digits(const char *p, unsigned *bad)
{
    unsigned a = (unsigned)(unsigned char)p[0] - '0';
    unsigned b = (unsigned)(unsigned char)p[1] - '0';
    *bad |= (a > 9) | (b > 9);
    return a * 10 + b;
}

/* Reads the zone from p to exactly end, Z or +hh:mm / -hh:mm, into *off (seconds east). */
static inline bool rfc3339_zone(const char *p, const char *end, int64_t *off)
{
    if (end - p == 1 && (*p == 'Z' || *p == 'z')) {
        *off = 0;
        return true;
    }
    if (end - p != 6 || (*p != '+' && *p != '-') || p[3] != ':') {
        return false;
    }
    unsigned bad = 0;
    unsigned hh = two_digits(p + 1, &bad);
    unsigned mm = two_digits(p + 4, &bad);
    if (bad | (hh > 23) | (mm > 59)) {
        return false;
    }
    *off = (int64_t)(hh * 3600 + mm * 60);
    *off = *p == '-' ? -*off : *off;
    return true;
}

/*
 * Reads the grammar of gl_timefmt_parse_rfc3339() into seconds since the
 * epoch (negative before 1970) and the fraction's nanoseconds. The fixed
 * part is read as three overlapping words, each checked and cut into
 * 2-digit numbers whole: date "YYYY-MM-" (s[0..7]), day "DDTHH:MM"
 * (s[8..15], of which "DDT" counts) and clock "HH:MM:SS" (s[11..18]). In
 * each mask byte i is 0xFF where byte i of the word is checked; '-' is
 * 0x2D, ':' is 0x3A and 't' is 0x74, which 'T' becomes with bit 0x20 set.
 */
HOT int rfc3339(const char *s, size_t n, int64_t *sec, int64_t *frac)
{
    if (n < 20) {
        return GL_EPARSE;
    }
    uint64_t date = load8(s), day = load8(s + 8), clock = load8(s + 11);
    bool separators = (date & UINT64_C(0xFF0000FF00000000)) == UINT64_C(0x2D00002D00000000) &&
                      ((day | 0x200000) & 0xFF0000) == 0x740000 &&
                      (clock & UINT64_C(0x0000FF0000FF0000)) == UINT64_C(0x00003A00003A0000);
    uint64_t not_digit = (not_digits(date) & UINT64_C(0x00FFFF00FFFFFFFF)) |
                         (not_digits(day) & 0xFFFF) |
                         (not_digits(clock) & UINT64_C(0xFFFF00FFFF00FFFF));
    if (!separators || not_digit != 0) {
        return GL_EPARSE;
    }
    date = digit_pairs(date);
    clock = digit_pairs(clock);
    unsigned y = byte_at(date, 0) * 100 + byte_at(date, 2), mo = byte_at(date, 5);
    unsigned d = byte_at(digit_pairs(day), 0);
    unsigned h = byte_at(clock, 0), mi = byte_at(clock, 3), ss = byte_at(clock, 6);
    if ((mo - 1 > 11) | (h > 23) | (mi > 59) | (ss > 60) ||
        d - 1 >= (unsigned)month_days(y, (int)mo)) {
        return GL_EPARSE;
    }
    const char *p = s + 19, *end = s + n;
    *frac = 0;
    if (*p == '.') {
        p = fraction(p + 1, end, frac);
        if (p == NULL) {
            return GL_EPARSE;
        }
    }
    int64_t off;
    if (!rfc3339_zone(p, end, &off)) {
        return GL_EPARSE;
    }
    *sec = days_from_civil(y, (int)mo, (int)d) * 86400 + h * 3600 + mi * 60 + ss - off;
    return 0;
}

int gl_timefmt_parse_rfc3339(const char *s, size_t n, uint64_t *ns)
{
    int64_t sec, frac;
    if (rfc3339(s, n, &sec, &frac) != 0) {
        return GL_EPARSE;
    }
    return to_ns(sec, frac, ns);
}

int gl_timefmt_parse_rfc3339_sec(const char *s, size_t n, int64_t *sec)
{
    int64_t frac;
    return rfc3339(s, n, sec, &frac);
}

/* ---- strptime-like formats ---- */

/* What the conversions of a format have read. */
struct tparts {
    long year, mon, mday, hour, min, sec, yday;
    int64_t nsec;
    long offset; /* seconds east of UTC */
    int pm;      /* -1 unset, 0 am, 1 pm */
    bool has_year, has_yday, has_epoch;
    int64_t epoch;
};

static const char *months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                               "jul", "aug", "sep", "oct", "nov", "dec"};

/* Reads 1..max digits into *v, which must be within [lo, hi]. */
static int read_num(const char **s, const char *end, int max, long lo, long hi, long *v)
{
    long n = 0;
    int d = 0;
    while (*s < end && d < max && is_digit(**s)) {
        n = n * 10 + (**s - '0');
        (*s)++;
        d++;
    }
    if (d == 0 || n < lo || n > hi) {
        return GL_EPARSE;
    }
    *v = n;
    return 0;
}

static int read_frac(const char **s, const char *end, int64_t *nsec)
{
    const char *p = fraction(*s, end, nsec);
    if (p == NULL) {
        return GL_EPARSE;
    }
    *s = p;
    return 0;
}

static void skip_alpha(const char **s, const char *end)
{
    while (*s < end && isalpha((unsigned char)**s)) {
        (*s)++;
    }
}

/* A month's name, abbreviated or whole ("Oct", "october"), in any case. */
static int read_month(const char **s, const char *end, long *mon)
{
    if (end - *s < 3) {
        return GL_EPARSE;
    }
    for (int i = 0; i < 12; i++) {
        if (strncasecmp(*s, months[i], 3) == 0) {
            *mon = i + 1;
            *s += 3;
            skip_alpha(s, end);
            return 0;
        }
    }
    return GL_EPARSE;
}

/* Reads exactly two digits into *v, which must be at most hi. */
static int read_two(const char **s, const char *end, long hi, long *v)
{
    if (end - *s < 2 || !is_digit((*s)[0]) || !is_digit((*s)[1])) {
        return GL_EPARSE;
    }
    *v = ((*s)[0] - '0') * 10 + ((*s)[1] - '0');
    *s += 2;
    return *v <= hi ? 0 : GL_EPARSE;
}

/* Reads %z: Z, or a sign and hh, hhmm or hh:mm. */
static int read_zone(const char **s, const char *end, long *offset)
{
    long h;
    long m = 0;
    if (*s < end && (**s == 'Z' || **s == 'z')) {
        (*s)++;
        *offset = 0;
        return 0;
    }
    if (*s >= end || (**s != '+' && **s != '-')) {
        return GL_EPARSE;
    }
    long sign = **s == '-' ? -1 : 1;
    (*s)++;
    if (read_two(s, end, 23, &h) < 0) {
        return GL_EPARSE;
    }
    bool colon = *s < end && **s == ':';
    if (colon || (*s < end && is_digit(**s))) {
        *s += colon;
        if (read_two(s, end, 59, &m) < 0) {
            return GL_EPARSE;
        }
    }
    *offset = sign * (h * 3600 + m * 60);
    return 0;
}

/* Reads %s: up to twelve digits of epoch seconds and an optional fraction. */
static int read_epoch(const char **s, const char *end, struct tparts *t)
{
    int64_t n = 0;
    int d = 0;
    while (*s < end && is_digit(**s) && d < 12) {
        n = n * 10 + (**s - '0');
        (*s)++;
        d++;
    }
    if (d == 0) {
        return GL_EPARSE;
    }
    t->epoch = n;
    t->has_epoch = true;
    if (*s < end && **s == '.') {
        (*s)++;
        return read_frac(s, end, &t->nsec);
    }
    return 0;
}

static int parse_fmt(const char *fmt, const char **s, const char *end, struct tparts *t);

/* Reads a conversion of words, zone, epoch, fraction or shorthand (the character after %). */
static int read_other(char c, const char **s, const char *end, struct tparts *t)
{
    switch (c) {
    case 'b':
    case 'h':
    case 'B':
        return read_month(s, end, &t->mon);
    case 'a':
    case 'A':
    case 'Z':
        skip_alpha(s, end);
        return 0;
    case 'p':
        if (end - *s < 2 || (strncasecmp(*s, "am", 2) != 0 && strncasecmp(*s, "pm", 2) != 0)) {
            return GL_EPARSE;
        }
        t->pm = tolower((unsigned char)**s) == 'p';
        *s += 2;
        return 0;
    case 'z':
        return read_zone(s, end, &t->offset);
    case 's':
        return read_epoch(s, end, t);
    case 'L':
        return read_frac(s, end, &t->nsec);
    case 'T':
        return parse_fmt("%H:%M:%S", s, end, t);
    case 'F':
        return parse_fmt("%Y-%m-%d", s, end, t);
    case '%':
        if (*s < end && **s == '%') {
            (*s)++;
            return 0;
        }
        return GL_EPARSE;
    default:
        return GL_EPARSE;
    }
}

/* Reads one conversion (the character after %): the numeric ones here, the rest in read_other(). */
static int read_conv(char c, const char **s, const char *end, struct tparts *t)
{
    switch (c) {
    case 'Y':
        t->has_year = true;
        return read_num(s, end, 4, 0, 9999, &t->year);
    case 'y':
        t->has_year = true;
        if (read_num(s, end, 2, 0, 99, &t->year) < 0) {
            return GL_EPARSE;
        }
        t->year += t->year < 69 ? 2000 : 1900;
        return 0;
    case 'm':
        return read_num(s, end, 2, 1, 12, &t->mon);
    case 'e':
        if (*s < end && **s == ' ') {
            (*s)++;
        }
        return read_num(s, end, 2, 1, 31, &t->mday);
    case 'd':
        return read_num(s, end, 2, 1, 31, &t->mday);
    case 'H':
        return read_num(s, end, 2, 0, 23, &t->hour);
    case 'I':
        return read_num(s, end, 2, 1, 12, &t->hour);
    case 'M':
        return read_num(s, end, 2, 0, 59, &t->min);
    case 'S':
        return read_num(s, end, 2, 0, 60, &t->sec);
    case 'j':
        t->has_yday = true;
        return read_num(s, end, 3, 1, 366, &t->yday);
    default:
        return read_other(c, s, end, t);
    }
}

static int parse_fmt(const char *fmt, const char **s, const char *end, struct tparts *t)
{
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f == '%') {
            if (f[1] == '\0' || read_conv(f[1], s, end, t) < 0) {
                return GL_EPARSE;
            }
            f++;
        } else if (isspace((unsigned char)*f)) {
            while (*s < end && isspace((unsigned char)**s)) {
                (*s)++;
            }
        } else {
            if (*s >= end || **s != *f) {
                return GL_EPARSE;
            }
            (*s)++;
        }
    }
    return 0;
}

static long current_year(void)
{
    struct tm tm;
    time_t now = time(NULL);
    gmtime_r(&now, &tm);
    return tm.tm_year + 1900;
}

/*
 * Turns what the conversions read into seconds since the epoch: the epoch
 * when %s was read, else the calendar fields, with %j over %m/%d when both
 * are there. A day the month (or a %j the year) does not have is GL_EPARSE.
 */
static int tparts_sec(struct tparts *t, int64_t *sec)
{
    if (t->has_epoch) {
        *sec = t->epoch;
        return 0;
    }
    if (t->pm >= 0) {
        t->hour = t->hour % 12 + (t->pm ? 12 : 0);
    }
    long year = t->has_year ? t->year : current_year();
    int64_t days;
    if (t->has_yday) {
        if (t->yday > 365 + is_leap(year)) {
            return GL_EPARSE;
        }
        days = days_from_civil(year, 1, 1) + t->yday - 1;
    } else {
        if (t->mday > month_days(year, (int)t->mon)) {
            return GL_EPARSE;
        }
        days = days_from_civil(year, (int)t->mon, (int)t->mday);
    }
    *sec = days * 86400 + t->hour * 3600 + t->min * 60 + t->sec - t->offset;
    return 0;
}

int gl_timefmt_parse(const char *format, const char *s, size_t n, uint64_t *ns)
{
    struct tparts t = {.mon = 1, .mday = 1, .pm = -1};
    const char *end = s + n;
    if (parse_fmt(format, &s, end, &t) < 0) {
        return GL_EPARSE;
    }
    while (s < end && isspace((unsigned char)*s)) {
        s++;
    }
    int64_t sec;
    if (s != end || tparts_sec(&t, &sec) < 0) {
        return GL_EPARSE;
    }
    return to_ns(sec, t.nsec, ns);
}

const char *gl_timefmt_check(const char *format)
{
    for (const char *f = format; *f != '\0'; f++) {
        if (*f != '%') {
            continue;
        }
        f++;
        if (*f == '\0') {
            return "ends with a lone %";
        }
        if (strchr("YymdeHIMSjbhBaAZpzsLTF%", *f) == NULL) {
            return "unsupported conversion (use %Y %m %d %e %H %I %M %S %L %j %b %a %p %z %Z %s "
                   "%T %F %y)";
        }
    }
    return NULL;
}
