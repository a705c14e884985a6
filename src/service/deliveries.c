/*
 * Delivery results: one row per attempt to deliver a completed job's output to one of its
 * destinations (src/queue/delivery.h records them). Lists go through service_list; here are
 * the single row, the rows of one job, and a retry by hand, which hands the row to this
 * node's delivery service (a new round of attempts, recorded as they happen).
 */
#include "queue/delivery.h"
#include "service/internal.h"
#include "util/err.h"

int service_delivery_get(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    return svc_resolve(svc, STORE_DELIVERIES, ref, NULL, row, err);
}

int service_job_deliveries(struct service *svc, const char *ref, const struct store_query *q,
                           json_t **items, int64_t *total, struct err *err)
{
    *items = NULL;
    int64_t id = 0;
    int rc = svc_resolve_id(svc, STORE_JOBS, ref, NULL, &id, err);
    if (rc < 0)
        return rc;
    return svc_list_child(svc, SERVICE_DELIVERIES, "jobId", id, q, items, total, err);
}

int service_delivery_retry(struct service *svc, const char *ref, json_t **row, struct err *err)
{
    *row = NULL;
    json_t *rec = NULL;
    int rc = service_delivery_get(svc, ref, &rec, err);
    if (rc < 0)
        return rc;
    if (!svc->delivery) {
        json_decref(rec);
        return err_set(err, E_UNAVAILABLE, "output delivery does not run in this process");
    }
    rc = delivery_retry(svc->delivery, svc_row_id(rec), err);
    if (rc == 0)
        *row = rec;
    else
        json_decref(rec);
    return rc;
}
