# dromos-gateway, the public front door.  Everything in gateway/ except the
# daemon's main() forms libdromos-gateway, which the unit tests and the
# fuzzer link.
PROGS += dromos-gateway
dromos-gateway_SRCS := gateway/gateway.c
dromos-gateway_LIBS := gateway policy common
GATEWAY_LDLIBS := -lmicrohttpd -ljansson -lcrypto -lm -lpthread
dromos-gateway_LDLIBS := $(GATEWAY_LDLIBS) -lseccomp -lcap

LIBS += gateway
gateway_SRCS := $(filter-out $(dromos-gateway_SRCS), $(wildcard gateway/*.c))

MAN8 += man/dromos-gateway.8

# The OpenAPI document is compiled in, like the broker's migrations: the
# sandboxed gateway opens no file once it serves.  The generated file is
# replaced only when its text changes.
GATEWAY_OPENAPI_C := $(BUILD)/gen/gateway/openapi.c
gateway_SRCS += $(GATEWAY_OPENAPI_C)

$(GATEWAY_OPENAPI_C): gateway/embed-json gateway/openapi.json
	@mkdir -p $(@D)
	@gateway/embed-json gw_openapi gateway/openapi.json > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; \
	else mv $@.tmp $@ && echo "gateway/embed-json > $@"; fi
