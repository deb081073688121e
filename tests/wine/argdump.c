/* A stand-in for the program a real tool's .cmd starts (node for npm.cmd):
   it parses its command line with the rules of the Microsoft C runtime (and
   of Rust's std::env::args) and writes, to the file named by ARGDUMP_OUT,
   the raw command line and then each argument, each followed by a NUL byte,
   in UTF-8. Exits with ARGDUMP_EXIT (default 0).
   ARGDUMP_KILL_SUPERVISOR=<audit log>: waits until the log holds this
   process's own `process` record, then kills its parent's parent (the
   pkgward that supervises the .cmd tool) as a hard kill would, and then
   writes ARGDUMP_OUT.survived if it is still alive 20 s later.
   ARGDUMP_CTRL=c|break: as a user's Ctrl-C or Ctrl-Break would, sends the
   console control event to every process on the console (pkgward
   included), handles it (writing ARGDUMP_OUT.ctrl: "got N", or
   "generate-failed ERR" when the console cannot send it) and exits 130. */
#include <windows.h>
#include <tlhelp32.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile LONG ctrl_got = -1;
static BOOL WINAPI on_ctrl(DWORD e) { ctrl_got = (LONG)e; return TRUE; }

static void note(const char *out, const char *suffix, const char *text) {
    char path[MAX_PATH + 16];
    snprintf(path, sizeof path, "%s%s", out ? out : "argdump", suffix);
    FILE *m = fopen(path, "wb");
    if (m) { fputs(text, m); fclose(m); }
}

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
    const char *audit = getenv("ARGDUMP_KILL_SUPERVISOR");
    if (audit) {
        char want[64], buf[1 << 16];
        snprintf(want, sizeof want, "\",\"pid\":%lu,", GetCurrentProcessId());
        int seen = 0;
        for (int i = 0; i < 1200 && !seen; i++) { /* up to 60 s */
            FILE *a = fopen(audit, "rb");
            if (a) {
                size_t n = fread(buf, 1, sizeof buf - 1, a);
                buf[n] = 0;
                fclose(a);
                seen = strstr(buf, want) != NULL;
            }
            if (!seen) Sleep(50);
        }
        DWORD me = GetCurrentProcessId(), parent = 0, grand = 0;
        HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
        PROCESSENTRY32W pe = { sizeof pe };
        for (int pass = 0; pass < 2; pass++) {
            DWORD of = pass == 0 ? me : parent;
            pe.dwSize = sizeof pe;
            if (Process32FirstW(snap, &pe)) do {
                if (pe.th32ProcessID == of) {
                    if (pass == 0) parent = pe.th32ParentProcessID;
                    else grand = pe.th32ParentProcessID;
                }
            } while (Process32NextW(snap, &pe));
        }
        CloseHandle(snap);
        HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, grand);
        if (!h || !TerminateProcess(h, 9)) return 5;
        Sleep(20000);
        if (out) {
            char marker[MAX_PATH + 16];
            snprintf(marker, sizeof marker, "%s.survived", out);
            FILE *m = fopen(marker, "wb");
            if (m) fclose(m);
        }
        return 6;
    }
    const char *ctrl = getenv("ARGDUMP_CTRL");
    if (ctrl) {
        DWORD ev = ctrl[0] == 'b' ? CTRL_BREAK_EVENT : CTRL_C_EVENT;
        char text[64];
        SetConsoleCtrlHandler(on_ctrl, TRUE);
        if (!GenerateConsoleCtrlEvent(ev, 0)) {
            snprintf(text, sizeof text, "generate-failed %lu", GetLastError());
            note(out, ".ctrl", text);
            return 70;
        }
        for (int i = 0; i < 400 && ctrl_got < 0; i++) Sleep(50); /* up to 20 s */
        snprintf(text, sizeof text, "got %ld", ctrl_got);
        note(out, ".ctrl", text);
        return ctrl_got == (LONG)ev ? 130 : 71;
    }
    const char *code = getenv("ARGDUMP_EXIT");
    return code ? atoi(code) : 0;
}
