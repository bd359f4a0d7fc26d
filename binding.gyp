{
  "targets": [
    {
      "target_name": "shmkit",
      "sources": [
        "native/addon.cc",
        "native/doorbell.cc",
        "native/env_state.cc",
        "native/exit_signals.cc",
        "native/layout_values.cc",
        "native/errors.cc",
        "native/liveness.cc",
        "native/parent_death.cc",
        "native/pipe_end.cc",
        "native/queue.cc",
        "native/ring.cc",
        "native/sem.cc",
        "native/shm.cc",
        "native/spinner.cc",
        "native/wait.cc",
        "native/wait_engine.cc",
        "native/waiter_thread.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/doorbell_linux.cc", "native/futex_linux.cc", "native/liveness_linux.cc", "native/parent_death_linux.cc", "native/sem_linux.cc", "native/shm_linux.cc", "native/uring_linux.cc"],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS=='mac'", {
          "sources": ["native/doorbell_darwin.cc", "native/futex_darwin.cc", "native/liveness_darwin.cc", "native/parent_death_darwin.cc", "native/sem_darwin.cc", "native/shm_darwin.cc", "native/uring_darwin.cc"],
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
