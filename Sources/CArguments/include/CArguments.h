// SPDX-License-Identifier: Apache-2.0
// CArguments exports nothing: linking it into an executable is all it takes (see CArguments.c).
