// What the kernel charges for the PAGEMAP_SCAN ioctl that resets a pooled
// wasm memory slot (wasmtime's reset when a fresh instance is torn down),
// by how many pages of the slot are resident. See docs/benchmarks.md.
//
//   gcc -O2 -o /tmp/pagemap_scan bench/pagemap_scan.c
//   /tmp/pagemap_scan 1152 8 0    # 1152 KiB slot, 8 pages written, none only read
//   /tmp/pagemap_scan 1152 8 1    # ... every page of the slot read once (resident)
//
// Linux >= 6.7. The slot is a private mapping of a memfd, as wasmtime maps a
// memory image; the scan asks for the same categories wasmtime does (written,
// present, neither the zero page nor file-backed, i.e. dirtied copies).
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_PFNZERO (1 << 5)
struct page_region { uint64_t start, end, categories; };
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SLOT_KIB WRITTEN_PAGES READ_STRIDE_PAGES(0: none)\n", argv[0]);
        return 2;
    }
    size_t len = (size_t)atol(argv[1]) * 1024;
    int written = atoi(argv[2]), stride = atoi(argv[3]);
    int pagemap = open("/proc/self/pagemap", O_RDONLY);
    int image = memfd_create("image", 0);
    if (pagemap < 0 || image < 0 || ftruncate(image, (off_t)len) != 0) {
        perror("setup");
        return 1;
    }
    char *slot = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, image, 0);
    if (slot == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    for (size_t i = 0; stride > 0 && i < len; i += 4096 * (size_t)stride)
        (void)*(volatile char *)(slot + i);
    struct page_region regions[32];
    struct pm_scan_arg scan = {
        .size = sizeof scan,
        .start = (uint64_t)(uintptr_t)slot,
        .end = (uint64_t)(uintptr_t)slot + len,
        .vec = (uint64_t)(uintptr_t)regions,
        .vec_len = 32,
        .max_pages = 512,
        .category_inverted = PAGE_IS_PFNZERO | PAGE_IS_FILE,
        .category_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_PFNZERO | PAGE_IS_FILE,
    };
    const int rounds = 200000;
    double start = now();
    for (int r = 0; r < rounds; r++) {
        for (int p = 0; p < written; p++)
            slot[len - 4096 - (size_t)p * 3 * 4096] = 1;
        scan.walk_end = 0;
        if (ioctl(pagemap, PAGEMAP_SCAN, &scan) < 0) {
            perror("PAGEMAP_SCAN");
            return 1;
        }
    }
    printf("slot %zu KiB, %d pages written, read stride %d: %.0f ns per scan\n", len / 1024,
           written, stride, (now() - start) / rounds * 1e9);
    return 0;
}
