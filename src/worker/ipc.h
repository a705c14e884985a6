/*
 * The framing between a node and its worker processes (docs/worker-protocol.md), with no
 * I/O: a reader that takes bytes as they arrive and yields whole frames, and an encoder.
 *
 * A frame is   u32 length | u32 header_length | header | payload
 * (big-endian; length counts everything after itself). The header is a JSON object with a
 * "type"; the payload is raw bytes the header's type gives a meaning to (the input JSON of a
 * run, the output JSON of a result, the code of a task), carried as they are so that neither
 * side parses or escapes them again. Private to src/worker/ and fuzz/fuzz_ipc_frame.c.
 */
#ifndef RATCHET_WORKER_IPC_H
#define RATCHET_WORKER_IPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct err;
struct strbuf;

#define IPC_PREFIX_BYTES 8           /* the two lengths */
#define IPC_HEADER_MAX   (16u << 20) /* a header is never larger than this */

/* Bytes not yet parsed: at most one partial frame beyond the whole ones. */
struct ipc_reader {
    char *buf;
    size_t off;             /* start of unparsed bytes */
    size_t len;             /* end of received bytes */
    size_t cap;             /* allocated (one more byte is always kept for a NUL) */
    size_t max_frame_bytes; /* largest frame accepted (header + payload) */
    int error;       /* 0, or the negative code once the stream broke; then nothing more parses */
    size_t saved_at; /* where next() wrote a NUL after the last payload (0: none) */
    char saved_byte; /* the byte it replaced */
};

/* One frame as next() returns it. header is owned by the frame (ipc_frame_release); type is
 * borrowed from it; payload is borrowed from the reader, NUL-terminated, and valid until the
 * reader's next call. */
struct ipc_frame {
    json_t *header;
    const char *type;
    const char *payload;
    size_t payload_len;
};

void ipc_reader_init(struct ipc_reader *r, size_t max_frame_bytes);
void ipc_reader_release(struct ipc_reader *r);
/* Room for at least min_bytes more input at the end of the buffer (grown or compacted as
 * needed): read(2) into it, then ipc_reader_commit the bytes read. *avail gets the room. */
char *ipc_reader_space(struct ipc_reader *r, size_t min_bytes, size_t *avail);
void ipc_reader_commit(struct ipc_reader *r, size_t n);
/* Copies n bytes in (space + commit). */
void ipc_reader_feed(struct ipc_reader *r, const void *data, size_t n);
/*
 * The next whole frame: returns 1 with *f filled, 0 when more bytes are needed, or a
 * negative code with err set when the stream is broken (-E_TOO_LARGE: a frame over the
 * cap; -E_INVALID: lengths that do not add up, a header that is not a JSON object with a
 * string "type"); the reader then stays failed.
 */
int ipc_reader_next(struct ipc_reader *r, struct ipc_frame *f, struct err *err);
/* Bytes received and not yet returned as frames. */
size_t ipc_reader_pending(const struct ipc_reader *r);
void ipc_frame_release(struct ipc_frame *f);

/* Appends one frame to out: header (JSON text of an object, header_len bytes) and payload
 * (may be NULL with payload_len 0). -E_TOO_LARGE when it would pass out's cap or the frame
 * format's (4 GiB). */
int ipc_frame_append(struct strbuf *out, const char *header, size_t header_len, const void *payload,
                     size_t payload_len);
/* The same with a jansson header, serialised compactly. */
int ipc_frame_append_json(struct strbuf *out, const json_t *header, const void *payload,
                          size_t payload_len);

#endif
