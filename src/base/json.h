/* json.h — bounds for JSON text before it is parsed.
 *
 * A JSON parser that builds a tree (cJSON) allocates one node of ~64 bytes per value: a 60 MB
 * body of `[0,0,...]` becomes 30 million nodes and gigabytes of memory. pw_json_check() scans the
 * text once, in constant memory, and refuses it before any tree is built when it is larger,
 * deeper or has more values than the caller allows. It does not validate the JSON: a text it
 * passes may still be refused by the parser, but the parser then builds at most `values` nodes
 * nested at most `depth` deep. */
#ifndef PW_JSON_H
#define PW_JSON_H

#include <stddef.h>

struct pw_json_limits {
    size_t max_bytes;  /* 0 = no bound on the length */
    int max_depth;     /* arrays and objects nested inside each other; 0 = no bound */
    size_t max_values; /* values of every kind (a container counts as one); 0 = no bound */
};

struct pw_json_stats {
    size_t bytes;
    int depth;     /* deepest nesting seen (stops counting at the first refusal) */
    size_t values; /* an upper bound of the values a parser will build */
};

/* Scans data[0..len). Returns PW_OK with *st filled (st may be NULL), or PW_ETOOBIG (longer than
 * max_bytes or more than max_values values) or PW_ERANGE (nested deeper than max_depth) with a
 * message in err that names the bound ("JSON body nested deeper than 64 levels"), or PW_EINVAL
 * for a string with the escape \u0000 (a parser into C strings would cut it there). `what` names
 * the input in the message ("body"). Never reads past len; NUL bytes are ordinary bytes here. */
int pw_json_check(const char *data, size_t len, const struct pw_json_limits *lim, const char *what,
                  struct pw_json_stats *st, char *err, size_t errcap);

#endif
