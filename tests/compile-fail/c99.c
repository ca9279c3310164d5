/* The headers under C99: a sentence, not a cascade of _Generic errors.
 * Compiled with -std=c99 by meson (tests/meson.build). */
/* EXPECT: need C11 or later */
#include <carburetor/carburetor.h>

int carb_c99_unused;
