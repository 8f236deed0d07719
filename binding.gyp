{
  "targets": [
    {
      "target_name": "dtcp_dataplane",
      "sources": [
        "native/dataplane/addon.c",
        "native/dataplane/sock.c",
        "native/dataplane/stream.c",
        "native/dataplane/tun.c"
      ],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
