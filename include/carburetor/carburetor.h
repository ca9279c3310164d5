/* Carburetor — the umbrella header for applications.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#define CARBURETOR_INSIDE
#include <carburetor/async.h>
#include <carburetor/carburetor-enums.h>
#include <carburetor/error.h>
#include <carburetor/model.h>
#include <carburetor/model-runtime.h>
#include <carburetor/plugin.h>
#include <carburetor/replica.h>
#include <carburetor/store.h>
#include <carburetor/store-twoway.h>
#include <carburetor/store-write.h>
#include <carburetor/sync-group.h>
#include <carburetor/sync-point.h>
#include <carburetor/version.h>
#include <carburetor/versions.h>
#undef CARBURETOR_INSIDE
