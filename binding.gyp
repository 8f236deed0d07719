{
  "targets": [
    {
      "target_name": "dtcp_dataplane",
      "sources": [
        "native/dataplane/addon.c",
        "native/dataplane/args.c",
        "native/dataplane/channel.c",
        "native/dataplane/poller.c",
        "native/dataplane/sock.c",
        "native/dataplane/stream.c",
        "native/dataplane/tun.c",
        "native/dataplane/offload.c",
        "native/dataplane/send-many.c",
        "native/dataplane/steer.c",
        "native/dataplane/udp-gro.c"
      ],
      "defines": ["_GNU_SOURCE", "NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
