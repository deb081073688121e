/* A stand-in for the program a real tool's .cmd starts (node for npm.cmd):
   it parses its command line with the rules of the Microsoft C runtime (and
   of Rust's std::env::args) and writes, to the file named by ARGDUMP_OUT,
   the raw command line and then each argument, each followed by a NUL byte,
   in UTF-8. Exits with ARGDUMP_EXIT (default 0). */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

static void put(FILE *f, const wchar_t *w, int n) {
    char buf[32768];
    int len = WideCharToMultiByte(CP_UTF8, 0, w, n, buf, sizeof buf, NULL, NULL);
    fwrite(buf, 1, len, f);
    fputc(0, f);
}

int main(void) {
    const wchar_t *p = GetCommandLineW();
    const char *out = getenv("ARGDUMP_OUT");
    FILE *f = out ? fopen(out, "wb") : stdout;
    if (!f) return 3;
    put(f, p, (int)wcslen(p));
    /* The program name: up to whitespace, or quoted, no escapes. */
    if (*p == L'"') { p++; while (*p && *p != L'"') p++; if (*p) p++; }
    else { while (*p && *p != L' ' && *p != L'\t') p++; }
    static wchar_t arg[32768];
    for (;;) {
        while (*p == L' ' || *p == L'\t') p++;
        if (!*p) break;
        int n = 0, inq = 0;
        while (*p && (inq || (*p != L' ' && *p != L'\t'))) {
            if (*p == L'\\') {
                int bs = 0;
                while (*p == L'\\') { bs++; p++; }
                if (*p == L'"') {
                    for (int i = 0; i < bs / 2; i++) arg[n++] = L'\\';
                    if (bs % 2) { arg[n++] = L'"'; p++; }
                } else {
                    for (int i = 0; i < bs; i++) arg[n++] = L'\\';
                }
            } else if (*p == L'"') {
                if (inq && p[1] == L'"') { arg[n++] = L'"'; p += 2; }
                else { inq = !inq; p++; }
            } else {
                arg[n++] = *p++;
            }
        }
        put(f, arg, n);
    }
    if (out) fclose(f);
    /* ARGDUMP_BREAKAWAY: try to start a process outside the job; exit 99
       when that is refused, 98 when it was allowed. */
    if (getenv("ARGDUMP_BREAKAWAY")) {
        STARTUPINFOW si = { sizeof si };
        PROCESS_INFORMATION pi;
        wchar_t cmdline[] = L"cmd.exe /c exit 0";
        if (!CreateProcessW(NULL, cmdline, NULL, NULL, FALSE, CREATE_BREAKAWAY_FROM_JOB,
                            NULL, NULL, &si, &pi))
            return GetLastError() == ERROR_ACCESS_DENIED ? 99 : 97;
        WaitForSingleObject(pi.hProcess, INFINITE);
        return 98;
    }
    const char *code = getenv("ARGDUMP_EXIT");
    return code ? atoi(code) : 0;
}
