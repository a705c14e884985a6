/* UUIDs (RFC 9562) as 36-character lowercase strings, and OS randomness. Thread-safe. */
#ifndef RATCHET_UTIL_UUID_H
#define RATCHET_UTIL_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* The namespace Ratchet derives task UUIDs in: uuid_v5(RATCHET_TASK_NAMESPACE, name). */
#define RATCHET_TASK_NAMESPACE "6f1e5c3a-6b8e-5a43-9d7e-2a1c7f0b9e41"

/* Fills buf with cryptographically random bytes (getrandom); aborts if the OS cannot. */
void random_bytes(void *buf, size_t n);
uint64_t random_u64(void);

void uuid_v4(char out[UUID_STR_LEN]);
/* Time-ordered UUID (48-bit Unix milliseconds, then random bits): ids made later sort later,
 * so database indexes on them grow at one end instead of at random pages. */
void uuid_v7(char out[UUID_STR_LEN]);
/* Name-based UUID (SHA-1) in namespace ns (a UUID string); returns 0 or -E_INVALID if ns is
 * not a UUID. */
int uuid_v5(const char *ns, const char *name, char out[UUID_STR_LEN]);
/* True if s is a UUID in 8-4-4-4-12 hex form (any case). */
bool uuid_is_valid(const char *s);

#endif
