/*
 * bcryptprimitives.dll for wine 8.0, which lacks it (wine 9 ships its own).
 *
 * Rust's standard library (1.78 and later) gets its random numbers from ProcessPrng in
 * bcryptprimitives.dll, present on every Windows 10 and 11. pydantic-core and velopack are built
 * with such a Rust, so under Debian 12's wine their extension modules fail to load ("DLL load
 * failed ... Module not found"). scripts/windows_prefix.py builds this file with Debian's
 * mingw-w64 and puts it into the test prefix's system32 only when wine has no bcryptprimitives.dll
 * of its own. It is a test-environment stand-in: nothing here ships to users.
 */
#include <windows.h>

/* RtlGenRandom, exported by advapi32 as SystemFunction036. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
    while (size > 0) {
        ULONG chunk = size > 0x40000000 ? 0x40000000 : (ULONG)size;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        size -= chunk;
    }
    return TRUE;
}
