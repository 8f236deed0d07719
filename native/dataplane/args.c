/* Checking the arguments JS passes to the exported functions, and the shared batch buffer. */
#include "addon.h"

/* ---- argument helpers ---- */

/* The open channel behind a handle; syscall names the operation for the EBADF of a closed one. */
chan_t *get_chan(napi_env env, napi_value v, const char *syscall) {
  bool tagged = false;
  void *data = NULL;
  if (napi_check_object_type_tag(env, v, &CHAN_TAG, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &data) != napi_ok) {
    napi_throw_type_error(env, NULL, "not a dataplane channel");
    return NULL;
  }
  chan_t *ch = data;
  if (ch->fd < 0) {
    napi_throw(env, errno_error(env, ch->what, syscall, EBADF, NULL));
    return NULL;
  }
  return ch;
}

/* The poller index argument of an open function: -1 (the event loop) or 0..2^30. */
bool get_index(napi_env env, napi_value v, int32_t *index) {
  if (napi_get_value_int32(env, v, index) != napi_ok || *index < -1 || *index > (1 << 30)) {
    napi_throw_range_error(env, NULL, "poller index must be -1 or 0..2^30");
    return false;
  }
  return true;
}

bool get_array(napi_env env, napi_value v, napi_typedarray_type want, void **data,
               size_t *length, const char *what) {
  napi_typedarray_type type;
  /* napi_get_typedarray_info fails (without throwing) on anything but a typed array. */
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok ||
      type != want) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s has the wrong type", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}

bool get_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_function) {
    char msg[64];
    snprintf(msg, sizeof msg, "%s must be a function", what);
    napi_throw_type_error(env, NULL, msg);
    return false;
  }
  return true;
}


bool get_send_args(napi_env env, napi_value *argv, bool with_addr, bool with_port,
                   send_args_t *a) {
  size_t buflen, n_off, n_len, n_addr = 0, n_port = 0;
  size_t i = 0;
  if (!get_array(env, argv[i++], napi_uint8_array, (void **)&a->buf, &buflen, "buffer") ||
      !get_array(env, argv[i++], napi_uint32_array, (void **)&a->off, &n_off, "offsets") ||
      !get_array(env, argv[i++], napi_uint32_array, (void **)&a->len, &n_len, "lengths"))
    return false;
  a->addr = NULL;
  a->port = NULL;
  if (with_addr && !get_array(env, argv[i++], napi_uint32_array, (void **)&a->addr, &n_addr, "addrs"))
    return false;
  if (with_port && !get_array(env, argv[i++], napi_uint16_array, (void **)&a->port, &n_port, "ports"))
    return false;
  if (napi_get_value_uint32(env, argv[i], &a->count) != napi_ok ||
      a->count > n_off || a->count > n_len || (with_addr && a->count > n_addr) ||
      (with_port && a->count > n_port)) {
    napi_throw_range_error(env, NULL, "count exceeds an array's length");
    return false;
  }
  for (uint32_t k = 0; k < a->count; k++) {
    if ((uint64_t)a->off[k] + a->len[k] > buflen) {
      napi_throw_range_error(env, NULL, "packet slice outside the buffer");
      return false;
    }
  }
  return true;
}

/* ---- the shared batch ---- */

/* A buffer for BATCH_MAX slots of `slot` bytes (pages are touched only by packets received),
 * replacing any smaller one: JS only ever sees a buffer during its callback. */
bool shared_alloc(napi_env env, shared_t *sh, uint32_t slot) {
  napi_value buf;
  napi_ref ref;
  void *data;
  if (napi_create_buffer(env, (size_t)BATCH_MAX * (slot + SLOT_PAD), &data, &buf) != napi_ok ||
      napi_create_reference(env, buf, 1, &ref) != napi_ok) {
    throw_napi_failure(env, "napi_create_buffer");
    return false;
  }
  if (sh->buf) napi_delete_reference(env, sh->buf);
  sh->buf = ref;
  if (sh->state_data) sh->state_data[STATE_GENERATION]++;
  batch_layout(&sh->b, data, slot);
  return true;
}

napi_value number_array(napi_env env, const double *values, uint32_t n) {
  napi_value result, v;
  NAPI_CALL(env, napi_create_array_with_length(env, n, &result));
  for (uint32_t i = 0; i < n; i++) {
    NAPI_CALL(env, napi_create_double(env, values[i], &v));
    NAPI_CALL(env, napi_set_element(env, result, i, v));
  }
  return result;
}
