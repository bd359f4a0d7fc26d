{
  "targets": [
    {
      "target_name": "shmkit",
      "sources": [
        "native/addon.cc",
        "native/core/errors.cc",
        "native/core/env_state.cc",
        "native/core/layout_values.cc",
        "native/sys/shm.cc",
        "native/sys/sem.cc",
        "native/sys/liveness.cc",
        "native/sys/parent_death.cc",
        "native/sys/exit_signals.cc",
        "native/wait/wait.cc",
        "native/wait/wait_engine.cc",
        "native/wait/waiter_thread.cc",
        "native/wait/doorbell.cc",
        "native/wait/spinner.cc",
        "native/channel/frame_ring.cc",
        "native/channel/ring.cc",
        "native/channel/pipe_end.cc",
        "native/channel/queue.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      # -fvisibility-inlines-hidden: an inline function that is not inlined (frame_ring.h's
      # FrameRing::Oldest) is called directly, not through the PLT (docs/design.md, "Rings in the addon").
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fvisibility-inlines-hidden"],
      "conditions": [
        ["OS=='linux'", {
          "sources": ["native/wait/doorbell_linux.cc", "native/sys/futex_linux.cc", "native/sys/liveness_linux.cc", "native/sys/parent_death_linux.cc", "native/sys/sem_linux.cc", "native/sys/shm_linux.cc", "native/wait/uring_linux.cc"],
          "libraries": ["-lrt", "-lpthread"]
        }],
        ["OS=='mac'", {
          "sources": ["native/wait/doorbell_darwin.cc", "native/sys/futex_darwin.cc", "native/sys/liveness_darwin.cc", "native/sys/parent_death_darwin.cc", "native/sys/sem_darwin.cc", "native/sys/shm_darwin.cc", "native/wait/uring_darwin.cc"],
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
