/*
 * librdkafka's mock Kafka cluster in a process of its own, for the drain
 * benchmark's Kafka sink: one broker on a loopback port, as the tests host it
 * (Tests/KafkaTesting/MockKafka.swift), so `siphon run` reaches it over TCP
 * like a real broker and the harness can read this process's CPU time apart
 * from Siphon's.
 *
 * Prints the bootstrap address (`127.0.0.1:PORT`) on one line of stdout, then
 * sleeps until SIGTERM or SIGINT and exits 0. The mock keeps only the newest
 * 5 MB (or 100,000 batches) of each partition, so its memory stays bounded
 * whatever the backlog; offsets, and so high watermarks, count every record.
 *
 * Build: gcc -O2 -o kafka_mock kafka_mock.c $(pkg-config --cflags --libs rdkafka)
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;

static void stop(int signal_number) {
    (void)signal_number;
    stopping = 1;
}

/* The mock's brokers log through the handle; keep its chatter off stderr
 * unless it is an error. */
static void log_errors(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
    (void)rk;
    if (level <= 3)
        fprintf(stderr, "kafka_mock: %s: %s\n", facility, message);
}

int main(void) {
    /* The signals stay blocked except inside sigsuspend, so one that comes
     * between the check of the flag and the wait is not lost; blocked before
     * librdkafka starts its threads, which inherit the mask, so none of them
     * takes the signal while the main thread sleeps on. */
    sigset_t blocked, waiting;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    pthread_sigmask(SIG_BLOCK, &blocked, &waiting);
    sigdelset(&waiting, SIGTERM);
    sigdelset(&waiting, SIGINT);

    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, log_errors);
    /* The handle only owns the cluster's threads; it produces nothing. */
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "kafka_mock: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, 1);
    if (!cluster) {
        fprintf(stderr, "kafka_mock: cannot start the mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }

    struct sigaction action = {0};
    action.sa_handler = stop;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);

    printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
    fflush(stdout);

    while (!stopping)
        sigsuspend(&waiting);

    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
