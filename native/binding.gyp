{
  "targets": [
    {
      "target_name": "sd_notify",
      "sources": ["sd_notify.c"],
      "defines": ["NAPI_VERSION=3"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
