# Finds every dependency once and exposes it as an lv:: target; records what was found for
# `liver-vlm info` (build_info.h).
find_package(OpenMP REQUIRED COMPONENTS C)

# CPU GEMM: oneDNN (Debian libdnnl-dev) is the choice: AVX-512 sgemm kernels and the same
# OpenMP pool as our own loops (Debian's OpenBLAS 0.3.21 runs AVX2 kernels on AVX-512 AMD
# CPUs and its pthread pool fights OpenMP for the cores: conv forward+backward 1.6x slower).
# OpenBLAS stays as the fallback where oneDNN is absent. LV_CPU_GEMM=AUTO|DNNL|OPENBLAS.
set(LV_CPU_GEMM AUTO CACHE STRING "CPU GEMM library: AUTO (oneDNN, else OpenBLAS), DNNL, OPENBLAS")
add_library(lv::gemm INTERFACE IMPORTED)
set(LV_GEMM_NAME "")
if(NOT LV_CPU_GEMM STREQUAL "OPENBLAS")
  find_path(DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
  find_library(DNNL_LIBRARY NAMES dnnl)
  if(DNNL_INCLUDE_DIR AND DNNL_LIBRARY)
    set(LV_GEMM_NAME oneDNN)
    target_include_directories(lv::gemm INTERFACE ${DNNL_INCLUDE_DIR})
    target_link_libraries(lv::gemm INTERFACE ${DNNL_LIBRARY})
    target_compile_definitions(lv::gemm INTERFACE LV_GEMM_DNNL=1)
  elseif(LV_CPU_GEMM STREQUAL "DNNL")
    message(FATAL_ERROR "LV_CPU_GEMM=DNNL but oneDNN was not found (apt-get install libdnnl-dev)")
  endif()
endif()
if(NOT LV_GEMM_NAME)
  find_path(OPENBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)
  find_library(OPENBLAS_LIBRARY NAMES openblas)
  if(NOT OPENBLAS_INCLUDE_DIR OR NOT OPENBLAS_LIBRARY)
    message(FATAL_ERROR "no CPU GEMM library: install libdnnl-dev (preferred) or libopenblas-dev")
  endif()
  set(LV_GEMM_NAME OpenBLAS)
  target_include_directories(lv::gemm INTERFACE ${OPENBLAS_INCLUDE_DIR})
  target_link_libraries(lv::gemm INTERFACE ${OPENBLAS_LIBRARY})
  target_compile_definitions(lv::gemm INTERFACE LV_GEMM_OPENBLAS=1)
endif()

# cJSON (Debian libcjson-dev) for safetensors headers, configs and JSONL logs.
find_path(CJSON_INCLUDE_DIR cjson/cJSON.h REQUIRED)
find_library(CJSON_LIBRARY NAMES cjson REQUIRED)
add_library(lv::cjson INTERFACE IMPORTED)
target_include_directories(lv::cjson INTERFACE ${CJSON_INCLUDE_DIR})
target_link_libraries(lv::cjson INTERFACE ${CJSON_LIBRARY})

# utf8proc (Debian libutf8proc-dev): Unicode categories, case mapping and NFC/NFD for the
# WordPiece tokenizer's BERT text rules.
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h)
find_library(UTF8PROC_LIBRARY NAMES utf8proc)
if(NOT UTF8PROC_INCLUDE_DIR OR NOT UTF8PROC_LIBRARY)
  message(FATAL_ERROR "utf8proc not found: install libutf8proc-dev (apt-get install libutf8proc-dev)")
endif()
add_library(lv::utf8proc INTERFACE IMPORTED)
target_include_directories(lv::utf8proc INTERFACE ${UTF8PROC_INCLUDE_DIR})
target_link_libraries(lv::utf8proc INTERFACE ${UTF8PROC_LIBRARY})

# Libraries the info command reports on; each optional piece defines LV_HAVE_<X>.
add_library(lv_deps_info INTERFACE)
add_library(lv::deps_info ALIAS lv_deps_info)

set(LV_HAVE_HDF5 0)
if(LV_HDF5)
  find_package(HDF5 REQUIRED COMPONENTS C)
  set(LV_HAVE_HDF5 1)
  add_library(lv::hdf5 INTERFACE IMPORTED)
  target_include_directories(lv::hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS})
  target_link_libraries(lv::hdf5 INTERFACE ${HDF5_C_LIBRARIES})
  target_compile_definitions(lv::hdf5 INTERFACE ${HDF5_C_DEFINITIONS})
  target_link_libraries(lv_deps_info INTERFACE lv::hdf5)
endif()

set(LV_HAVE_MPI 0)
if(NOT LV_MPI STREQUAL "OFF")
  if(LV_MPI STREQUAL "ON")
    find_package(MPI REQUIRED COMPONENTS C)
  else()
    find_package(MPI QUIET COMPONENTS C)
  endif()
  if(MPI_C_FOUND)
    set(LV_HAVE_MPI 1)
    target_link_libraries(lv_deps_info INTERFACE MPI::MPI_C)
  endif()
endif()

find_package(Threads REQUIRED)

# nifticlib (Debian libnifti2-dev) for `pack`: reads .nii/.nii.gz NIfTI-1 and -2.
set(LV_HAVE_NIFTI 0)
find_path(NIFTI_INCLUDE_DIR nifti2_io.h PATH_SUFFIXES nifti)
find_library(NIFTI_LIBRARY NAMES nifti2)
find_package(ZLIB QUIET)
if(NIFTI_INCLUDE_DIR AND NIFTI_LIBRARY AND ZLIB_FOUND)
  set(LV_HAVE_NIFTI 1)
  add_library(lv::nifti INTERFACE IMPORTED)
  target_include_directories(lv::nifti INTERFACE ${NIFTI_INCLUDE_DIR})
  target_link_libraries(lv::nifti INTERFACE ${NIFTI_LIBRARY} ZLIB::ZLIB m)
  target_compile_definitions(lv::nifti INTERFACE HAVE_ZLIB=1)
endif()

# libpng (Debian libpng-dev) for previews and explanation images.
set(LV_HAVE_PNG 0)
find_package(PNG QUIET)
if(PNG_FOUND)
  set(LV_HAVE_PNG 1)
  add_library(lv::png INTERFACE IMPORTED)
  target_link_libraries(lv::png INTERFACE PNG::PNG)
endif()

set(LV_HAVE_CUDA 0)
if(LV_CUDA_EMU)
  # cuda/ built by the host C++ compiler against emu/ (the CPU device emulator): no nvcc,
  # no CUDA libraries; emu/ provides the runtime, cuBLAS, cuDNN and NCCL.
  enable_language(CXX)
  set(LV_HAVE_CUDA 1)
  set(CMAKE_CUDA_ARCHITECTURES "emulated")
elseif(NOT LV_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(LV_HAVE_CUDA 1)
  elseif(LV_CUDA STREQUAL "ON")
    message(FATAL_ERROR "LV_CUDA=ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
  endif()
endif()

if(LV_HAVE_CUDA AND NOT LV_CUDA_EMU)
  # cuDNN and NCCL may live under /usr/local/cuda or only inside PyTorch's pip wheels
  # (nvidia/cudnn, nvidia/nccl with versioned .so.9/.so.2 files and no unversioned link).
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include REQUIRED)
  find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 NAMES_PER_DIR HINTS ${CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64 REQUIRED)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS}
            PATH_SUFFIXES include REQUIRED)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR HINTS ${NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib lib64 REQUIRED)
  add_library(lv::cudnn INTERFACE IMPORTED)
  target_include_directories(lv::cudnn INTERFACE ${CUDNN_INCLUDE_DIR})
  target_link_libraries(lv::cudnn INTERFACE ${CUDNN_LIBRARY})
  add_library(lv::nccl INTERFACE IMPORTED)
  target_include_directories(lv::nccl INTERFACE ${NCCL_INCLUDE_DIR})
  target_link_libraries(lv::nccl INTERFACE ${NCCL_LIBRARY})
endif()

message(STATUS "liver-vlm: CUDA=${LV_HAVE_CUDA} (emulated: ${LV_CUDA_EMU}) MPI=${LV_HAVE_MPI} HDF5=${LV_HAVE_HDF5} CPU GEMM=${LV_GEMM_NAME} NIfTI=${LV_HAVE_NIFTI} PNG=${LV_HAVE_PNG}")
