/*
 * Replays a fuzz target over every file of a corpus directory, so that
 * `make check` runs the committed corpora without libFuzzer.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    if (argc != 2) { fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]); return 2; }
    DIR *d = opendir(argv[1]);
    if (!d) { perror(argv[1]); return 1; }
    struct dirent *de;
    unsigned n = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        uint8_t *buf = malloc(1 << 20);
        size_t len = buf ? fread(buf, 1, 1 << 20, f) : 0;
        fclose(f);
        if (!buf) return 1;
        /* Copy to an exact-size allocation so sanitizers see overreads. */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) return 1;
        memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
        n++;
    }
    closedir(d);
    if (n == 0) { fprintf(stderr, "empty corpus %s\n", argv[1]); return 1; }
    printf("%u inputs\n", n);
    return 0;
}
