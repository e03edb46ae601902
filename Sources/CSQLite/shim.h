#include <sqlite3.h>
#include <sys/inotify.h>

// SQLITE_TRANSIENT is a cast macro that Swift does not import.
static inline sqlite3_destructor_type siphon_sqlite_transient(void) { return SQLITE_TRANSIENT; }
