/*
 * The NATS sink's ceiling on this machine: how fast libnats and nats-server
 * alone (no PostgreSQL, no Siphon) store messages in a JetStream stream with
 * file storage, published asynchronously with acknowledgements, at most
 * `pending` in flight, as the sink does. With `headers` = 1 each message
 * carries what the sink's messages carry: siphon-id, siphon-pipeline,
 * siphon-op, siphon-schema-version, Nats-Msg-Id, Nats-Expected-Last-Sequence
 * and Nats-Expected-Last-Msg-Id; with 0, none.
 *
 *   nats_ceiling URL COUNT SIZE HEADERS PENDING
 *
 * Prints one JSON object: messages, seconds, rate, this process's CPU
 * seconds. Run by Scripts/nats-ceiling.sh, which starts the server.
 */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static volatile long acked = 0, failed = 0;

static void on_ack(jsCtx *js, natsMsg *msg, jsPubAck *ack, jsPubAckErr *error, void *closure) {
    (void)js; (void)error; (void)closure;
    if (ack) __sync_fetch_and_add(&acked, 1); else __sync_fetch_and_add(&failed, 1);
    natsMsg_Destroy(msg);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s URL COUNT SIZE HEADERS PENDING\n", argv[0]);
        return 2;
    }
    const char *url = argv[1];
    int count = atoi(argv[2]), size = atoi(argv[3]), headers = atoi(argv[4]), pending = atoi(argv[5]);
    natsConnection *connection = NULL;
    natsOptions *options = NULL;
    natsOptions_Create(&options);
    natsOptions_SetURL(options, url);
    if (natsConnection_Connect(&connection, options) != NATS_OK) {
        fprintf(stderr, "cannot connect to %s\n", url);
        return 1;
    }
    jsCtx *js = NULL;
    jsOptions jsOptions;
    jsOptions_Init(&jsOptions);
    jsOptions.PublishAsync.AckHandler = on_ack;
    jsOptions.PublishAsync.MaxPending = pending;
    natsConnection_JetStream(&js, connection, &jsOptions);
    jsStreamConfig config;
    jsStreamConfig_Init(&config);
    const char *subjects[] = {"ceiling.>"};
    config.Name = "CEILING";
    config.Subjects = subjects;
    config.SubjectsLen = 1;
    config.Storage = js_FileStorage;
    jsErrCode code = 0;
    if (js_AddStream(NULL, js, &config, NULL, &code) != NATS_OK) {
        fprintf(stderr, "cannot create the stream (%d)\n", code);
        return 1;
    }
    char *payload = malloc(size);
    memset(payload, 'x', size);
    char id[40], previous[40] = "";
    double start = now(), startCPU = cpu();
    for (int i = 0; i < count; i++) {
        natsMsg *message = NULL;
        natsMsg_Create(&message, "ceiling.public.w1", NULL, payload, size);
        jsPubOptions publish;
        jsPubOptions_Init(&publish);
        snprintf(id, sizeof id, "%032X", i + 1);
        if (headers) {
            natsMsgHeader_Set(message, "siphon-id", id);
            natsMsgHeader_Set(message, "siphon-pipeline", "bench");
            natsMsgHeader_Set(message, "siphon-op", "c");
            natsMsgHeader_Set(message, "siphon-schema-version", "1");
            publish.MsgId = id;
            if (i == 0) natsMsgHeader_Set(message, "Nats-Expected-Last-Sequence", "0");
            else {
                publish.ExpectLastSeq = (uint64_t)i;
                publish.ExpectLastMsgId = previous;
            }
        }
        natsStatus status = js_PublishMsgAsync(js, &message, &publish);
        if (status != NATS_OK) {
            fprintf(stderr, "publish %d: %s\n", i, natsStatus_GetText(status));
            return 1;
        }
        memcpy(previous, id, sizeof id);
    }
    jsPubOptions complete;
    jsPubOptions_Init(&complete);
    complete.MaxWait = 120000;
    js_PublishAsyncComplete(js, &complete);
    double seconds = now() - start;
    printf("{\"messages\": %d, \"acked\": %ld, \"failed\": %ld, \"seconds\": %.3f, \"rate\": %.0f, \"cpu\": %.3f}\n",
           count, acked, failed, seconds, count / seconds, cpu() - startCPU);
    return failed == 0 && acked == count ? 0 : 1;
}
