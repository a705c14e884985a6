/* Frames between a node and its workers: length-prefixed JSON headers with raw payloads
 * (ipc.h). The reader parses in place; a payload is handed out NUL-terminated by borrowing
 * the byte after it until the next call. */
#include "worker/ipc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define FRAME_FORMAT_MAX 0xffffffffu

void ipc_reader_init(struct ipc_reader *r, size_t max_frame_bytes)
{
    memset(r, 0, sizeof(*r));
    r->max_frame_bytes = max_frame_bytes;
}

void ipc_reader_release(struct ipc_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void restore_saved(struct ipc_reader *r)
{
    if (r->saved_at) {
        r->buf[r->saved_at] = r->saved_byte;
        r->saved_at = 0;
    }
}

char *ipc_reader_space(struct ipc_reader *r, size_t min_bytes, size_t *avail)
{
    restore_saved(r);
    if (r->off == r->len) {
        r->off = r->len = 0;
    } else if (r->off > 0 && r->cap - 1 - r->len < min_bytes) {
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
    }
    if (!r->buf || r->cap - 1 - r->len < min_bytes) {
        size_t need = r->len + min_bytes + 1;
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < need)
            cap *= 2;
        r->buf = xrealloc(r->buf, cap);
        r->cap = cap;
    }
    *avail = r->cap - 1 - r->len;
    return r->buf + r->len;
}

void ipc_reader_commit(struct ipc_reader *r, size_t n)
{
    r->len += n;
}

void ipc_reader_feed(struct ipc_reader *r, const void *data, size_t n)
{
    size_t avail;
    char *p = ipc_reader_space(r, n, &avail);
    memcpy(p, data, n);
    ipc_reader_commit(r, n);
}

size_t ipc_reader_pending(const struct ipc_reader *r)
{
    return r->len - r->off;
}

static uint32_t get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | (uint32_t)u[3];
}

static void put_u32(char *p, uint32_t v)
{
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

/* Marks the stream broken; every later call fails with the same code. */
static int broken(struct ipc_reader *r, int rc)
{
    r->error = rc;
    return rc;
}

int ipc_reader_next(struct ipc_reader *r, struct ipc_frame *f, struct err *err)
{
    memset(f, 0, sizeof(*f));
    restore_saved(r);
    if (r->error)
        return err_set(err, err_code_of(r->error), "the frame stream broke earlier");
    size_t have = r->len - r->off;
    if (have < 4)
        return 0;
    const char *p = r->buf + r->off;
    size_t total = get_u32(p);
    if (total < 4)
        return broken(r, err_set(err, E_INVALID,
                                 "a frame of %zu bytes cannot hold its header length", total));
    if (total - 4 > r->max_frame_bytes)
        return broken(r, err_set(err, E_TOO_LARGE,
                                 "a frame of %zu bytes is over the limit of %zu bytes", total - 4,
                                 r->max_frame_bytes));
    if (have < 4 + total)
        return 0;
    size_t hlen = get_u32(p + 4);
    if (hlen > total - 4 || hlen > IPC_HEADER_MAX || hlen < 2)
        return broken(r,
                      err_set(err, E_INVALID, "a frame header of %zu bytes in a frame of %zu bytes",
                              hlen, total));
    json_error_t jerr;
    json_t *h = json_loadb(p + 8, hlen, 0, &jerr);
    const char *type = h && json_is_object(h) ? jsonx_str(h, "type") : NULL;
    if (!type) {
        json_decref(h);
        return broken(r, err_set(err, E_INVALID,
                                 "a frame header (%zu bytes) is not a JSON object with a "
                                 "\"type\" string",
                                 hlen));
    }
    size_t start = r->off + 8 + hlen, plen = total - 4 - hlen;
    r->off += 4 + total;
    /* NUL-terminate the payload in place; the byte is given back on the next call */
    r->saved_at = start + plen;
    r->saved_byte = r->buf[r->saved_at];
    r->buf[r->saved_at] = '\0';
    f->header = h;
    f->type = type;
    f->payload = r->buf + start;
    f->payload_len = plen;
    return 1;
}

void ipc_frame_release(struct ipc_frame *f)
{
    json_decref(f->header);
    memset(f, 0, sizeof(*f));
}

int ipc_frame_append(struct strbuf *out, const char *header, size_t header_len, const void *payload,
                     size_t payload_len)
{
    if (header_len > IPC_HEADER_MAX || payload_len > FRAME_FORMAT_MAX - 4 - header_len)
        return -E_TOO_LARGE;
    char prefix[IPC_PREFIX_BYTES];
    put_u32(prefix, (uint32_t)(4 + header_len + payload_len));
    put_u32(prefix + 4, (uint32_t)header_len);
    if (strbuf_grow(out, IPC_PREFIX_BYTES + header_len + payload_len) < 0)
        return -E_TOO_LARGE;
    strbuf_add(out, prefix, sizeof(prefix));
    strbuf_add(out, header, header_len);
    if (payload_len)
        strbuf_add(out, payload, payload_len);
    return 0;
}

int ipc_frame_append_json(struct strbuf *out, const json_t *header, const void *payload,
                          size_t payload_len)
{
    char *text = json_dumps(header, JSON_COMPACT);
    if (!text)
        return -E_INVALID;
    int rc = ipc_frame_append(out, text, strlen(text), payload, payload_len);
    free(text);
    return rc;
}
