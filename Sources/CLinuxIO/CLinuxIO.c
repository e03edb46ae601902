// sync_file_range is a GNU extension: glibc declares it only with
// _GNU_SOURCE, which Swift's Glibc module is not built with.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>

#include "CLinuxIO.h"

int siphon_start_writeback(int fd, int64_t offset, int64_t length) {
    return sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE);
}

int siphon_write_back_and_drop(int fd, int64_t offset, int64_t length) {
    if (sync_file_range(fd, offset, length,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
        return -1;
    }
    int advice = posix_fadvise(fd, offset, length, POSIX_FADV_DONTNEED);
    if (advice != 0) {
        errno = advice;
        return -1;
    }
    return 0;
}
