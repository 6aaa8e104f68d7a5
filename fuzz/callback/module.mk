# OAuth callbacks arrive from any browser: the query is attacker-chosen.
FUZZ += callback
fuzz_callback_SRCS := fuzz/callback/fuzz_callback.c
fuzz_callback_LIBS := unpriv
fuzz_callback_LDLIBS = $(UNPRIV_LDLIBS)
