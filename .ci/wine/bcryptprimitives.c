/*
 * Test-harness stand-in for Windows' bcryptprimitives.dll, for running portdoctor's Windows
 * build under Wine 8.0 in CI. Nothing of it ships in the product.
 *
 * Rust's std (1.78 and later) imports ProcessPrng from bcryptprimitives.dll for its random
 * keys; Wine 8.0 has no such DLL, so every Rust .exe fails to load there. This DLL exports
 * ProcessPrng with the documented signature and fills the buffer through advapi32's
 * SystemFunction036 (RtlGenRandom), which Wine implements. Windows itself never sees it.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Fills data with len random bytes; TRUE on success, as the real ProcessPrng (which
 * never fails) does. RtlGenRandom takes a ULONG length, so large requests go in chunks. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
