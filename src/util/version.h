/* The version of this Ratchet build, shown by --version, /health and the APIs. */
#ifndef RATCHET_UTIL_VERSION_H
#define RATCHET_UTIL_VERSION_H

#define RATCHET_VERSION "0.1.0"

#endif
