/* Wine 8.0 lacks bcryptprimitives.dll, from which Rust's standard library on
   Windows imports ProcessPrng; without it every Rust .exe fails to start
   (c0000135). This one-function stand-in fills the buffer from RtlGenRandom
   (SystemFunction036 in advapi32). Used only by the Wine test prefix. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
