/*
 * API keys: "rat_" + a 10-character public prefix + "_" + a 40-character secret, base62 from
 * the OS's random source (about 238 bits of secret). Only the SHA-256 of the whole key is
 * stored, with the prefix in clear for lookup; a presented key is hashed and compared in
 * constant time. Checked keys are cached for SERVICE_KEY_CACHE_MS so most requests never read
 * the store; revoking on this node drops the cache entry at once.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/internal.h"
#include "util/err.h"
#include "util/json.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"

#define KEY_TAG        "rat_"
#define KEY_PREFIX_LEN 14 /* "rat_" + 10 */
#define KEY_SECRET_LEN 40
#define KEY_LEN        (KEY_PREFIX_LEN + 1 + KEY_SECRET_LEN)
#define KEY_NAME_MAX   64
#define KEY_TOUCH_MS   60000 /* lastUsedAt is written at most this often per key */

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* n random base62 characters (rejection sampling: no modulo bias). */
static void random_base62(char *out, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char buf[64];
        random_bytes(buf, sizeof(buf));
        for (size_t k = 0; k < sizeof(buf) && i < n; k++)
            if (buf[k] < 248) /* 248 = 4 * 62 */
                out[i++] = base62[buf[k] % 62];
    }
    out[n] = '\0';
}

static void sha256_hex(const char *s, char out[65])
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int check_role(const json_t *v, struct err *err)
{
    const char *r = json_string_value(v);
    if (!r || (strcmp(r, "admin") != 0 && strcmp(r, "operator") != 0 && strcmp(r, "viewer") != 0))
        return err_set(err, E_INVALID, "role must be admin, operator or viewer");
    return 0;
}

int service_api_key_create(struct service *svc, const json_t *body, json_t **row, char **key,
                           struct err *err)
{
    *row = NULL;
    *key = NULL;
    json_t *f = NULL;
    int rc = svc_normalize(SERVICE_OP_API_KEY_CREATE, body, false, &f, err);
    if (rc < 0)
        return rc;
    char secret[KEY_LEN + 1];
    memcpy(secret, KEY_TAG, 4);
    random_base62(secret + 4, KEY_PREFIX_LEN - 4);
    secret[KEY_PREFIX_LEN] = '_';
    random_base62(secret + KEY_PREFIX_LEN + 1, KEY_SECRET_LEN);
    char prefix[KEY_PREFIX_LEN + 1];
    memcpy(prefix, secret, KEY_PREFIX_LEN);
    prefix[KEY_PREFIX_LEN] = '\0';
    if (!json_object_get(f, "name"))
        json_object_set_new(f, "name", json_string(prefix));
    const char *name = svc_row_str(f, "name");
    if (!name || !*name || strlen(name) > KEY_NAME_MAX) {
        rc = err_set(err, E_INVALID, "name must be a string of 1 to %d characters", KEY_NAME_MAX);
        goto out;
    }
    rc = check_role(json_object_get(f, "role"), err);
    if (rc < 0)
        goto out;
    int64_t exp = 0;
    rc = svc_time_of(json_object_get(f, "expiresAt"), "expiresAt", &exp, err);
    if (rc == 0 && exp && exp <= time_now_ms())
        rc = err_set(err, E_INVALID, "expiresAt must be in the future");
    if (rc < 0)
        goto out;
    char hash[65];
    sha256_hex(secret, hash);
    json_object_set_new(f, "prefix", json_string(prefix));
    json_object_set_new(f, "keyHash", json_string(hash));
    rc = store_create(svc->store, STORE_API_KEYS, f, row, err);
    if (rc == 0)
        *key = xstrdup(secret);
out:
    OPENSSL_cleanse(secret, sizeof(secret));
    json_decref(f);
    return rc;
}

static void cache_drop(struct service *svc, const char *prefix)
{
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < KEY_CACHE_SIZE; i++)
        if (strcmp(svc->keys[i].prefix, prefix) == 0)
            memset(&svc->keys[i], 0, sizeof(svc->keys[i]));
    pthread_mutex_unlock(&svc->lock);
}

int service_api_key_revoke(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    if (row)
        *row = NULL;
    json_t *cur = NULL;
    int rc;
    if (svc_is_id(ref, NULL))
        rc = svc_resolve(svc, STORE_API_KEYS, ref, NULL, &cur, err);
    else if (strncmp(ref, KEY_TAG, 4) == 0)
        rc = store_get_by(svc->store, STORE_API_KEYS, "prefix", ref, &cur, err);
    else
        rc = store_get_by(svc->store, STORE_API_KEYS, "name", ref, &cur, err);
    if (rc == -E_NOT_FOUND || rc == -E_INVALID)
        return err_set(err, E_NOT_FOUND, "no api key with id, name or prefix \"%.64s\"", ref);
    if (rc < 0)
        return rc;
    char ts[32];
    json_t *f =
        json_pack("{s:s}", "revokedAt", time_format_rfc3339_ms(time_now_ms(), ts, sizeof(ts)));
    json_t *out = NULL;
    if (!json_is_null(json_object_get(cur, "revokedAt")) && json_object_get(cur, "revokedAt")) {
        out = json_incref(cur); /* already revoked: nothing to change */
    } else {
        rc = store_update(svc->store, STORE_API_KEYS, svc_row_id(cur), f, &out, err);
    }
    if (rc == 0)
        cache_drop(svc, svc_row_str(cur, "prefix") ? svc_row_str(cur, "prefix") : "");
    json_decref(f);
    json_decref(cur);
    if (rc == 0 && row)
        *row = out;
    else
        json_decref(out);
    return rc;
}

/* Fills e from the store; 0, or -E_UNAUTHORIZED for an unknown prefix. */
static int fetch_key(struct service *svc, const char *prefix, struct key_entry *e, struct err *err)
{
    char *hash = NULL;
    json_t *row = NULL;
    struct err e2 = {0};
    int rc = store_api_key_lookup(svc->store, prefix, &hash, &row, &e2);
    if (rc == -E_NOT_FOUND)
        return err_set(err, E_UNAUTHORIZED, "unknown API key");
    if (rc < 0) {
        if (err)
            *err = e2;
        return rc;
    }
    memset(e, 0, sizeof(*e));
    snprintf(e->prefix, sizeof(e->prefix), "%s", prefix);
    snprintf(e->hash, sizeof(e->hash), "%s", hash ? hash : "");
    snprintf(e->role, sizeof(e->role), "%s",
             svc_row_str(row, "role") ? svc_row_str(row, "role") : "");
    snprintf(e->name, sizeof(e->name), "%s",
             svc_row_str(row, "name") ? svc_row_str(row, "name") : "");
    e->id = svc_row_id(row);
    json_t *rv = json_object_get(row, "revokedAt");
    e->revoked = rv && !json_is_null(rv);
    svc_time_of(json_object_get(row, "expiresAt"), "expiresAt", &e->expires_ms, NULL);
    int64_t lu = 0;
    svc_time_of(json_object_get(row, "lastUsedAt"), "lastUsedAt", &lu, NULL);
    e->touched_ms = lu;
    e->fetched_ms = time_mono_ms();
    free(hash);
    json_decref(row);
    return 0;
}

int service_api_key_check(struct service *svc, const char *token, char *role, size_t role_size,
                          char *key_id, size_t key_id_size, char *name, size_t name_size,
                          struct err *err)
{
    size_t n = token ? strlen(token) : 0;
    if (n != KEY_LEN || strncmp(token, KEY_TAG, 4) != 0 || token[KEY_PREFIX_LEN] != '_')
        return err_set(err, E_UNAUTHORIZED, "malformed API key (expected rat_...)");
    char prefix[KEY_PREFIX_LEN + 1];
    memcpy(prefix, token, KEY_PREFIX_LEN);
    prefix[KEY_PREFIX_LEN] = '\0';
    int64_t now_mono = time_mono_ms();

    struct key_entry e = {0};
    bool found = false;
    pthread_mutex_lock(&svc->lock);
    size_t slot = KEY_CACHE_SIZE, oldest = 0;
    for (size_t i = 0; i < KEY_CACHE_SIZE; i++) {
        struct key_entry *c = &svc->keys[i];
        if (c->prefix[0] && strcmp(c->prefix, prefix) == 0) {
            if (now_mono - c->fetched_ms < SERVICE_KEY_CACHE_MS) {
                e = *c;
                found = true;
            }
            slot = i;
            break;
        }
        if (!c->prefix[0] || c->fetched_ms < svc->keys[oldest].fetched_ms)
            oldest = i;
    }
    pthread_mutex_unlock(&svc->lock);
    if (!found) {
        int rc = fetch_key(svc, prefix, &e, err);
        if (rc < 0)
            return rc;
        pthread_mutex_lock(&svc->lock);
        svc->keys[slot < KEY_CACHE_SIZE ? slot : oldest] = e;
        pthread_mutex_unlock(&svc->lock);
    }
    char hash[65];
    sha256_hex(token, hash);
    if (strlen(e.hash) != 64 || CRYPTO_memcmp(hash, e.hash, 64) != 0)
        return err_set(err, E_UNAUTHORIZED, "unknown API key");
    if (e.revoked)
        return err_set(err, E_UNAUTHORIZED, "this API key was revoked");
    int64_t now = time_now_ms();
    if (e.expires_ms && e.expires_ms <= now)
        return err_set(err, E_UNAUTHORIZED, "this API key has expired");
    snprintf(role, role_size, "%s", e.role);
    snprintf(key_id, key_id_size, "%s", e.prefix);
    snprintf(name, name_size, "%s", e.name);
    if (now - e.touched_ms > KEY_TOUCH_MS) {
        pthread_mutex_lock(&svc->lock);
        for (size_t i = 0; i < KEY_CACHE_SIZE; i++)
            if (strcmp(svc->keys[i].prefix, prefix) == 0)
                svc->keys[i].touched_ms = now;
        pthread_mutex_unlock(&svc->lock);
        char ts[32];
        json_t *f = json_pack("{s:s}", "lastUsedAt", time_format_rfc3339_ms(now, ts, sizeof(ts)));
        store_update(svc->store, STORE_API_KEYS, e.id, f, NULL, NULL);
        json_decref(f);
    }
    return 0;
}
