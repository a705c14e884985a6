/* Embedding a file of the repository in the binary, so that it can stay a plain file editors
 * and linters understand (JavaScript, HTML). The Makefile rebuilds the object that embeds it
 * when the file changes. */
#ifndef RATCHET_UTIL_EMBED_H
#define RATCHET_UTIL_EMBED_H

/* Defines the global <sym> as the bytes of path (relative to the repository root, where make
 * runs the compiler), NUL-terminated, with the assembler's .incbin. Use at file scope. */
#define EMBED(sym, path)                           \
    __asm__(".pushsection .rodata\n"               \
            ".balign 16\n"                         \
            ".global " #sym "\n"                   \
            ".hidden " #sym "\n"                   \
            ".type " #sym ", @object\n" #sym ":\n" \
            ".incbin \"" path "\"\n"               \
            ".byte 0\n"                            \
            ".size " #sym ", . - " #sym "\n"       \
            ".popsection\n");                      \
    extern const char sym[]

#endif
