# dromos-gateway, the public front door.  Everything in gateway/ except the
# daemon's main() forms libdromos-gateway, which the unit tests and the
# fuzzer link.
PROGS += dromos-gateway
dromos-gateway_SRCS := gateway/gateway.c common/wipefree.c
dromos-gateway_LIBS := gateway policy common
GATEWAY_LDLIBS := -lmicrohttpd -ljansson -lssl -lcrypto -lm -lpthread
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

# The connect page's files (gateway/www/), compiled in the same way: each
# becomes gw_www_<name with _ for .>[] in its own generated file.
GATEWAY_WWW := connect.html connect.css connect.js
GATEWAY_WWW_C := $(patsubst %,$(BUILD)/gen/gateway/www/%.c,$(GATEWAY_WWW))
gateway_SRCS += $(GATEWAY_WWW_C)

# A static pattern rule: the generated files are not intermediates that
# make would delete after the build.
$(GATEWAY_WWW_C): $(BUILD)/gen/gateway/www/%.c: gateway/embed-json gateway/www/%
	@mkdir -p $(@D)
	@gateway/embed-json gw_www_$(subst .,_,$*) gateway/www/$* > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; \
	else mv $@.tmp $@ && echo "gateway/embed-json > $@"; fi
