# Token endpoint responses come from providers, which is to say from
# whoever answers at a token URL.
FUZZ += tokenresp
fuzz_tokenresp_SRCS := fuzz/tokenresp/fuzz_tokenresp.c
fuzz_tokenresp_LIBS := unpriv
# Recursive: UNPRIV_LDLIBS is set by unpriv/module.mk, included later.
fuzz_tokenresp_LDLIBS = $(UNPRIV_LDLIBS)
