/* Starts a process with exactly the command line stored (UTF-8) in the
   file named by its first argument, as CreateProcessW receives it from the
   standard library, waits for it and exits with its exit code. The Wine
   suite uses it to run cmd.exe with the command line pkgward built for a
   batch file, the batch file swapped for argdump.exe. */
#include <windows.h>
#include <stdio.h>

int wmain(int argc, wchar_t **argv) {
    if (argc < 2) return 2;
    FILE *f = _wfopen(argv[1], L"rb");
    if (!f) return 3;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    static wchar_t cl[65536];
    if (!MultiByteToWideChar(CP_UTF8, 0, buf, -1, cl, 65536)) return 4;
    STARTUPINFOW si = { sizeof si };
    PROCESS_INFORMATION pi;
    if (!CreateProcessW(NULL, cl, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi)) return 5;
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD code = 1;
    GetExitCodeProcess(pi.hProcess, &code);
    return (int)code;
}
