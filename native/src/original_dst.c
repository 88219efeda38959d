/*
 * getOriginalDst(fd) -> { address, port, family } | throws
 *
 * Reads the destination a connection had before an iptables nat REDIRECT rewrote it
 * (SO_ORIGINAL_DST), which Node cannot do: it has no getsockopt. Plain C against node_api.h so
 * one build runs on every Node with N-API 8.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>; both are 80. Defined
 * here because the kernel headers clash with glibc's netinet headers. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

/* Throws an Error whose `code` is the errno name, as Node's own system errors do. */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  const char *code;
  switch (err) {
    case ENOENT: code = "ENOENT"; break; /* no conntrack entry: the connection was not NATed */
    case ENOTCONN: code = "ENOTCONN"; break;
    case EBADF: code = "EBADF"; break;
    case ENOTSOCK: code = "ENOTSOCK"; break;
    case ENOPROTOOPT: code = "ENOPROTOOPT"; break; /* nf_conntrack not loaded for this family */
    case EINVAL: code = "EINVAL"; break;
    default: code = "EIO"; break;
  }
  char message[200];
  snprintf(message, sizeof message, "%s: %s (%s)", what, strerror(err), code);
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value get_original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "getOriginalDst(fd): fd must be an integer >= 0");
    return NULL;
  }

  /* The local address tells which family the socket is, and so which option level to ask. */
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, "getsockname", errno);

  char text[INET6_ADDRSTRLEN];
  int port;
  int family;
  const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&local;
  if (local.ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr)) {
    struct sockaddr_in6 dst;
    socklen_t dlen = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &dlen) != 0)
      return throw_errno(env, "getsockopt(SOL_IPV6, IP6T_SO_ORIGINAL_DST)", errno);
    inet_ntop(AF_INET6, &dst.sin6_addr, text, sizeof text);
    port = ntohs(dst.sin6_port);
    family = 6;
  } else if (local.ss_family == AF_INET || local.ss_family == AF_INET6) {
    /* IPv4, or IPv4 accepted on a dual-stack socket (v4-mapped): conntrack holds a v4 tuple. */
    struct sockaddr_in dst;
    socklen_t dlen = sizeof dst;
    memset(&dst, 0, sizeof dst);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &dlen) != 0)
      return throw_errno(env, "getsockopt(SOL_IP, SO_ORIGINAL_DST)", errno);
    inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
    port = ntohs(dst.sin_port);
    family = 4;
  } else {
    napi_throw_error(env, "EAFNOSUPPORT", "getOriginalDst: socket is not an IPv4 or IPv6 socket");
    return NULL;
  }

  napi_value result, address, port_value, family_value;
  if (napi_create_object(env, &result) != napi_ok) return NULL;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_int32(env, port, &port_value);
  napi_create_int32(env, family, &family_value);
  napi_set_named_property(env, result, "address", address);
  napi_set_named_property(env, result, "port", port_value);
  napi_set_named_property(env, result, "family", family_value);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "getOriginalDst", NAPI_AUTO_LENGTH, get_original_dst, NULL, &fn) != napi_ok)
    return NULL;
  if (napi_set_named_property(env, exports, "getOriginalDst", fn) != napi_ok) return NULL;
  return exports;
}
