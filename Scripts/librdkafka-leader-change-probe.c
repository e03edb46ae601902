/*
 * librdkafka alone (no Siphon code) against its mock cluster: an idempotent
 * producer (acks=all) writes 2,050 keyed records to a 3-partition topic on
 * a 3-broker mock cluster; the leader of every partition moves from broker
 * 1 to broker 2 while records are in flight (SINGLE=1), or flips between
 * the two every 30 ms (default). It prints how many delivery reports
 * succeeded and how many records the partitions hold.
 *
 *   gcc -O1 -o /tmp/probe Scripts/librdkafka-leader-change-probe.c -lrdkafka -lpthread
 *   for i in $(seq 30); do SINGLE=1 /tmp/probe; done | sort | uniq -c
 *
 * With Debian's librdkafka 2.0.2, a few runs in 30 print ok=2050 with
 * inlog below 2050: records reported delivered that Kafka (the mock) does
 * not hold. See KafkaSinkFaultTests.testLeaderChangesDuringWritesLoseAndDoubleNothing.
 * An optional first argument sets topic.metadata.refresh.fast.interval.ms.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int ok = 0, failed = 0;
static rd_kafka_mock_cluster_t *mock;
static const char *topic = "t";

static void report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    if (m->err) failed++; else ok++;
}

static void lead(int broker) {
    for (int p = 0; p < 3; p++) rd_kafka_mock_partition_set_leader(mock, topic, p, broker);
}

static void *flip(void *unused) {
    for (int round = 0; round < 11; round++) { lead(round % 2 == 0 ? 2 : 1); usleep(30000); }
    return NULL;
}

static void produce(rd_kafka_t *producer, int n) {
    char key[16], value[16];
    snprintf(key, sizeof key, "k%d", n % 10);
    snprintf(value, sizeof value, "%d", n);
    rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                      RD_KAFKA_V_VALUE(value, strlen(value)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
}

int main(int argc, char **argv) {
    char err[512];
    int single = getenv("SINGLE") != NULL;
    rd_kafka_t *host = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), err, sizeof err);
    mock = rd_kafka_mock_cluster_new(host, 3);
    rd_kafka_mock_topic_create(mock, topic, 3, 3);
    lead(1);

    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *settings[][2] = {
        {"bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock)}, {"enable.idempotence", "true"},
        {"acks", "all"}, {"linger.ms", "2"}, {"retry.backoff.ms", "20"}, {"partitioner", "murmur2"},
        {"message.timeout.ms", "30000"}, {"queue.buffering.max.kbytes", "65536"},
        {"topic.metadata.refresh.fast.interval.ms", argc > 1 ? argv[1] : "100"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, "%s\n", err);
            return 2;
        }
    rd_kafka_conf_set_dr_msg_cb(conf, report);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);

    int n = 0;
    for (int i = 0; i < 50; i++) produce(producer, n++);
    rd_kafka_flush(producer, 10000);
    pthread_t flipper;
    if (!single) pthread_create(&flipper, NULL, flip, NULL);
    for (int round = 0; round < 20; round++) {
        if (single && round == 6) lead(2);
        for (int i = 0; i < 100; i++) produce(producer, n++);
        rd_kafka_poll(producer, 15);
    }
    if (!single) pthread_join(flipper, NULL);
    rd_kafka_flush(producer, 30000);

    rd_kafka_conf_t *readerConf = rd_kafka_conf_new();
    rd_kafka_conf_set(readerConf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mock), err, sizeof err);
    rd_kafka_t *reader = rd_kafka_new(RD_KAFKA_CONSUMER, readerConf, err, sizeof err);
    long held = 0;
    for (int p = 0; p < 3; p++) {
        int64_t low, high;
        rd_kafka_query_watermark_offsets(reader, topic, p, &low, &high, 5000);
        held += high - low;
    }
    printf("sent=%d ok=%d failed=%d inlog=%ld\n", n, ok, failed, held);
    rd_kafka_destroy(reader);
    rd_kafka_destroy(producer);
    rd_kafka_mock_cluster_destroy(mock);
    rd_kafka_destroy(host);
    return held == n ? 0 : 1;
}
