/*
 * Fuzz target for the worker frame reader (src/worker/ipc.c). The input is fed in pieces
 * (sizes taken from the input itself) to a reader with a small cap: it must never crash,
 * return only frames within the cap whose header is an object with a string "type" and whose
 * payload is NUL-terminated, and stay failed once it reported an error. Every frame it
 * returns is encoded again and must parse back to the same header and payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/strbuf.h"
#include "worker/ipc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 4096

static void check_round_trip(const struct ipc_frame *f)
{
    struct strbuf wire = STRBUF_INIT;
    if (ipc_frame_append_json(&wire, f->header, f->payload, f->payload_len) < 0)
        abort();
    struct ipc_reader r;
    ipc_reader_init(&r, CAP * 4);
    ipc_reader_feed(&r, wire.buf, wire.len);
    struct ipc_frame g;
    if (ipc_reader_next(&r, &g, NULL) != 1)
        abort();
    if (!json_equal(f->header, g.header) || g.payload_len != f->payload_len ||
        memcmp(g.payload, f->payload, f->payload_len) != 0)
        abort();
    ipc_frame_release(&g);
    ipc_reader_release(&r);
    strbuf_release(&wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t step = size ? (size_t)data[0] % 17 + 1 : 1;
    struct ipc_reader r;
    ipc_reader_init(&r, CAP);
    bool failed = false;
    for (size_t off = 0; off < size; off += step) {
        size_t k = size - off < step ? size - off : step;
        ipc_reader_feed(&r, data + off, k);
        struct ipc_frame f;
        int rc;
        while ((rc = ipc_reader_next(&r, &f, NULL)) == 1) {
            if (failed || !f.type || !json_is_object(f.header) || f.payload[f.payload_len] != 0)
                abort();
            if (f.payload_len > CAP)
                abort();
            check_round_trip(&f);
            ipc_frame_release(&f);
        }
        if (rc < 0)
            failed = true;
        else if (failed)
            abort();
    }
    ipc_reader_release(&r);
    return 0;
}
