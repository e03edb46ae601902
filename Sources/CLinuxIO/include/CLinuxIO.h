#ifndef SIPHON_CLINUXIO_H
#define SIPHON_CLINUXIO_H

#include <stdint.h>

/// Starts writeback of a file range without waiting for it
/// (sync_file_range with SYNC_FILE_RANGE_WRITE). 0, or -1 with errno set.
int siphon_start_writeback(int fd, int64_t offset, int64_t length);

/// Waits until a file range is written back, starting writeback of what is
/// still dirty, then tells the kernel its cached pages will not be read
/// again (POSIX_FADV_DONTNEED). 0, or -1 with errno set.
int siphon_write_back_and_drop(int fd, int64_t offset, int64_t length);

#endif
