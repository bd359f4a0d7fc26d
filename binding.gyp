{
  "targets": [
    {
      "target_name": "shmkit",
      "sources": [
        "native/addon.cc",
        "native/env_state.cc",
        "native/errors.cc",
        "native/liveness.cc",
        "native/sem.cc",
        "native/shm.cc",
        "native/wait.cc",
        "native/waiter.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/liveness_linux.cc", "native/sem_linux.cc", "native/shm_linux.cc", "native/wait_linux.cc"],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS=='mac'", {
          "sources": ["native/liveness_darwin.cc", "native/sem_darwin.cc", "native/shm_darwin.cc", "native/wait_darwin.cc"],
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "11.0"
          }
        }]
      ]
    }
  ]
}
