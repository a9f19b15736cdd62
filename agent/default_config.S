/*
 * The embedded default configuration: config/gleaner.yaml, included as bytes
 * so that `gleaner` with no -c runs it. gl_default_config_len excludes the NUL.
 */
    .section .rodata
    .global gl_default_config
    .global gl_default_config_len
gl_default_config:
    .incbin "config/gleaner.yaml"
gl_default_config_end:
    .byte 0
    .balign 8
gl_default_config_len:
    .quad gl_default_config_end - gl_default_config
    .section .note.GNU-stack,"",@progbits
