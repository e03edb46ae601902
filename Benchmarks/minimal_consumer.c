/*
 * The least work a logical replication consumer can do, as a reference for
 * the latency mode: what is left of a consumer's latency when its own CPU
 * per transaction is close to nothing.
 *
 * It follows python_consumer.py step by step, in C: libpq in non-blocking
 * mode, one PQconsumeInput per PQgetCopyData that finds nothing (as
 * psycopg2's read_message), wal2json (format-version 2) messages copied to
 * a buffer one line each, the buffer written to the file whenever the
 * stream is momentarily drained, and an fdatasync plus a flush confirmation
 * every second. Stops on SIGTERM/SIGINT after a last write, sync and
 * confirmation.
 *
 *     minimal_consumer CONNINFO SLOT OUTPUT
 */
#include <endian.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping = 0;
static void stop(int signal_number) { (void)signal_number; stopping = 1; }

static double seconds_now(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

static void fail(const char *what, PGconn *conn) {
    fprintf(stderr, "minimal_consumer: %s: %s\n", what, conn ? PQerrorMessage(conn) : "");
    exit(1);
}

enum { BUFFER_SIZE = 1 << 20 };
static char buffer[BUFFER_SIZE];
static size_t buffered = 0;

static void write_buffer(int fd) {
    size_t done = 0;
    while (done < buffered) {
        ssize_t n = write(fd, buffer + done, buffered - done);
        if (n < 0) { perror("minimal_consumer: write"); exit(1); }
        done += (size_t)n;
    }
    buffered = 0;
}

/* Standby status update: written, flushed and applied all at `lsn`. */
static void confirm(PGconn *conn, uint64_t lsn) {
    char message[34] = {'r'};
    uint64_t position = htobe64(lsn);
    memcpy(message + 1, &position, 8);
    memcpy(message + 9, &position, 8);
    memcpy(message + 17, &position, 8);
    if (PQputCopyData(conn, message, sizeof message) != 1 || PQflush(conn) < 0) fail("status update", conn);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: minimal_consumer CONNINFO SLOT OUTPUT\n");
        return 2;
    }
    signal(SIGTERM, stop);
    signal(SIGINT, stop);

    char conninfo[2048];
    snprintf(conninfo, sizeof conninfo, "%s replication=database", argv[1]);
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) fail("connect", conn);
    char command[512];
    snprintf(command, sizeof command, "START_REPLICATION SLOT %s LOGICAL 0/0 (\"format-version\" '2')", argv[2]);
    PGresult *result = PQexec(conn, command);
    if (PQresultStatus(result) != PGRES_COPY_BOTH) fail("START_REPLICATION", conn);
    PQclear(result);
    if (PQsetnonblocking(conn, 1) != 0) fail("non-blocking mode", conn);

    int fd = open(argv[3], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) { perror("minimal_consumer: open"); return 1; }
    int sock = PQsocket(conn);
    uint64_t written = 0;   /* where the last message written to the file started */
    uint64_t confirmed = 0; /* the last position confirmed to the server */
    double last_confirm = seconds_now();

    while (!stopping) {
        char *message = NULL;
        int length = PQgetCopyData(conn, &message, 1);
        if (length == 0) {
            if (!PQconsumeInput(conn)) fail("read", conn);
            length = PQgetCopyData(conn, &message, 1);
        }
        if (length < -1) fail("read", conn);
        if (length == -1) fail("the server ended the stream", conn);
        if (length > 0) {
            if (message[0] == 'w' && length > 25) {
                size_t size = (size_t)length - 25;
                if (buffered + size + 1 > BUFFER_SIZE) write_buffer(fd);
                if (size + 1 > BUFFER_SIZE) fail("message larger than the buffer", NULL);
                memcpy(buffer + buffered, message + 25, size);
                buffered += size;
                buffer[buffered++] = '\n';
                uint64_t start;
                memcpy(&start, message + 1, 8);
                written = be64toh(start);
            } else if (message[0] == 'k' && length >= 18 && message[17]) {
                confirm(conn, confirmed); /* a reply the server asked for; confirms nothing new */
            }
            PQfreemem(message);
            if (seconds_now() - last_confirm < 1.0) continue;
        }
        /* Drained (or a second has passed): make what we have visible in the file. */
        write_buffer(fd);
        double wait = 1.0 - (seconds_now() - last_confirm);
        if (wait <= 0) {
            if (fdatasync(fd) != 0) { perror("minimal_consumer: fdatasync"); return 1; }
            confirm(conn, written);
            confirmed = written;
            last_confirm = seconds_now();
            wait = 1.0;
        }
        if (length > 0) continue;
        if (wait > 0.1) wait = 0.1;
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(sock, &readable);
        struct timeval timeout = {0, (long)(wait * 1e6)};
        select(sock + 1, &readable, NULL, NULL, &timeout);
    }
    write_buffer(fd);
    if (fdatasync(fd) != 0) { perror("minimal_consumer: fdatasync"); return 1; }
    confirm(conn, written);
    PQfinish(conn);
    return 0;
}
